"""`pgolf check`: every rule on one record folder, with evidence and a verdict.

The verdict is FAIL when a rule fails, WARN when none fails but one warns, else PASS; ``ok`` is
"no rule fails" (with ``strict``: "no rule fails or warns"), which is what the exit status follows.
"""

from __future__ import annotations

from pathlib import Path

from pgolf.errors import PgolfError
from pgolf.referee import rules
from pgolf.referee.records import Record, read_record
from pgolf.referee.verdict import FAIL, NA, PASS, WARN


def reference_from(against: str | Path | None = None, bpb: float | None = None,
                   seeds: list[float] | None = None) -> tuple[float | None, list[float], str]:
    """(reference mean BPB, its per-seed BPB, a description) from a folder or from numbers."""
    if against is not None:
        ref = read_record(against)
        vals = ref.seed_bpbs()
        mean = sum(vals) / len(vals) if vals else ref.mean_bpb()
        if mean is None:
            raise PgolfError(f"{against}: the reference folder states no val_bpb")
        return mean, vals if len(vals) > 1 else [], f"{Path(against).name} ({mean:.5f}, {len(vals)} seeds)"
    if seeds and bpb is None:
        bpb = sum(seeds) / len(seeds)
    if bpb is None:
        return None, [], "none"
    return bpb, list(seeds or []), f"{bpb:.5f}" + (f" ({len(seeds)} seeds)" if seeds else "")


def run_rules(rec: Record, ref_bpb: float | None = None, ref_seeds: list[float] | None = None,
              data: str | Path | None = None) -> list[dict]:
    return [
        rules.required_files(rec),
        rules.artifact_size(rec),
        rules.train_time(rec),
        rules.calibration_time(rec),
        rules.eval_time(rec),
        rules.submission_agrees(rec),
        rules.one_code_and_config(rec),
        *rules.data_rules(rec, data),
        rules.score_first_audit(rec, data),
        rules.significance(rec, ref_bpb, ref_seeds),
    ]


def check_folder(folder: str | Path, against: str | Path | None = None, sota_bpb: float | None = None,
                 data: str | Path | None = None, strict: bool = False) -> dict:
    rec = read_record(folder)
    ref_bpb, ref_seeds, ref_desc = reference_from(against, sota_bpb)
    return report(rec, run_rules(rec, ref_bpb, ref_seeds, data), ref_desc, strict)


def report(rec: Record, verdicts: list[dict], ref_desc: str = "none", strict: bool = False) -> dict:
    failed = [v["rule"] for v in verdicts if v["status"] == FAIL]
    warned = [v["rule"] for v in verdicts if v["status"] == WARN]
    verdict = "FAIL" if failed else "WARN" if warned else "PASS"
    return {
        "folder": str(rec.folder),
        "verdict": verdict,
        "ok": not failed and not (strict and warned),
        "strict": strict,
        "failed": failed,
        "warned": warned,
        "reference": ref_desc,
        "seeds": rec.seeds,
        "logs": [lg.evidence() for lg in rec.logs],
        "other_runs": [lg.evidence() for lg in rec.extra_runs],
        "reading": rec.notes,
        "rules": verdicts,
    }


MARK = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL", NA: "n/a "}


def format_report(rep: dict, verbose: bool = False) -> str:
    lines = [f"{rep['folder']}: {len(rep['logs'])} log(s), seeds {rep['seeds'] or '?'}"]
    for note in rep.get("reading", []):
        lines.append(f"  note  {note}")
    for v in rep["rules"]:
        lines.append(f"  {MARK[v['status']]}  {v['rule']:<20} {v['detail']}")
        for n in v.get("notes", []) if verbose else []:
            lines.append(f"{'':28}{n}")
    tail = {"FAIL": "FAIL (" + ", ".join(rep["failed"]) + ")", "WARN": "WARN (" + ", ".join(rep["warned"]) + ")",
            "PASS": "PASS"}[rep["verdict"]]
    if rep.get("strict") and rep["verdict"] == "WARN":
        tail += " - fails under --strict"
    lines.append("verdict: " + tail)
    return "\n".join(lines)
