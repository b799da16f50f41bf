"""`pgolf check`: every rule on one record folder, with evidence; ok unless a rule fails."""

from __future__ import annotations

from pathlib import Path

from pgolf.errors import PgolfError
from pgolf.referee import rules
from pgolf.referee.records import read_record


def reference_from(against: str | Path | None = None, bpb: float | None = None,
                   seeds: list[float] | None = None) -> tuple[float | None, list[float], str]:
    """(reference mean BPB, its per-seed BPB, a description) from a folder or from numbers."""
    if against is not None:
        ref = read_record(against)
        mean = ref.mean_bpb()
        if mean is None:
            raise PgolfError(f"{against}: the reference folder states no val_bpb")
        vals = ref.seed_bpbs()
        return mean, vals if len(vals) > 1 else [], f"{Path(against).name} ({mean:.5f}, {len(vals)} seeds)"
    if seeds and bpb is None:
        bpb = sum(seeds) / len(seeds)
    if bpb is None:
        return None, [], "none"
    return bpb, list(seeds or []), f"{bpb:.5f}" + (f" ({len(seeds)} seeds)" if seeds else "")


def check_folder(folder: str | Path, against: str | Path | None = None, sota_bpb: float | None = None,
                 data: str | Path | None = None) -> dict:
    rec = read_record(folder)
    ref_bpb, ref_seeds, ref_desc = reference_from(against, sota_bpb)
    verdicts = [
        rules.required_files(rec),
        rules.artifact_size(rec),
        rules.train_time(rec),
        rules.eval_time(rec),
        rules.submission_agrees(rec),
        rules.one_code_and_config(rec),
        *rules.data_rules(rec, data),
        rules.score_first_audit(rec, data),
        rules.significance(rec, ref_bpb, ref_seeds),
    ]
    failed = [v["rule"] for v in verdicts if v["status"] == rules.FAIL]
    return {
        "folder": str(rec.folder),
        "ok": not failed,
        "failed": failed,
        "reference": ref_desc,
        "seeds": rec.seeds,
        "logs": [lg.path.name for lg in rec.logs],
        "rules": verdicts,
    }


def format_report(rep: dict) -> str:
    mark = {rules.PASS: "PASS", rules.FAIL: "FAIL", rules.NA: "n/a "}
    lines = [f"{rep['folder']}: {len(rep['logs'])} log(s), seeds {rep['seeds'] or '?'}"]
    for v in rep["rules"]:
        lines.append(f"  {mark[v['status']]}  {v['rule']:<20} {v['detail']}")
    lines.append("verdict: " + ("no rule fails" if rep["ok"] else "FAILS " + ", ".join(rep["failed"])))
    return "\n".join(lines)
