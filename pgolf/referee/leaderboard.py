"""`pgolf leaderboard`: the records of a folder as the challenge's README table lists them.

One row per record folder (a folder with a README.md or a submission.json), sorted by score:

- the score is submission.json's ``val_bpb`` as written (what the maintainers list), else the mean
  of the seeds' logged scores; shown to 4 decimals rounded half up, as the README writes them;
- a support folder (``"submission_type": "record_support"``, a reproduction of another record) is
  folded into the record it supports, found by a run log both folders ship byte for byte: the row
  then scores the mean over both folders' seeds, each seed by its latest counted run (the
  support's re-runs replace the record's runs of the same seed);
- the author is the GitHub id (``github_id``, else ``author``);
- the bytes are the largest artifact by the accounting `pgolf check` uses (``artifact_size``);
- ``verdict`` is `pgolf check`'s (PASS / WARN / FAIL) with the rules that warn or fail;
- ``p_readme`` / ``p_welch``: the row against the one below it (the best worse record), by the
  README rule (0.005 nats at p < 0.01) and by the maintainers' one-sided Welch test (p < 0.25).
"""

from __future__ import annotations

import re
import statistics
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pgolf.io import atomic_write
from pgolf.errors import PgolfError
from pgolf.referee.check import report, run_rules
from pgolf.referee.records import Record, SeedLog, read_record


def _date(sub: dict, folder: Path) -> str | None:
    raw = str(sub.get("date") or "")
    m = re.match(r"(\d{4}-\d{2}-\d{2})", raw) or re.match(r"(\d{4}-\d{2}-\d{2})", folder.name)
    return m.group(1) if m else None


def four_places(value) -> str:
    """The score as the README writes it: 4 decimals, rounded half up from the written number."""
    text = getattr(value, "text", None) or repr(float(value))
    return str(Decimal(text).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def is_support(rec: Record) -> bool:
    return str((rec.submission or {}).get("submission_type", "")).lower() == "record_support"


def _log_bytes(rec: Record) -> set[bytes]:
    return {lg.path.read_bytes() for lg in rec.all_runs}


def _supported(support: Record, records: list[Record]) -> Record | None:
    mine = _log_bytes(support)
    shared = [r for r in records if r is not support and not is_support(r) and mine & _log_bytes(r)]
    return shared[0] if len(shared) == 1 else None


def _row(rec: Record, supports: list[Record]) -> dict | None:
    sub = rec.submission or {}
    rep = report(rec, run_rules(rec))
    sizes = [_bytes(rep)]
    folders = [rec.folder.name]
    verdicts = [rep["verdict"]]
    flags = rep["failed"] + rep["warned"]
    if supports:
        latest: dict[object, SeedLog] = {lg.seed: lg for lg in rec.scored_logs}
        for s in supports:
            latest.update({lg.seed: lg for lg in s.scored_logs})
            srep = report(s, run_rules(s))
            sizes.append(_bytes(srep))
            folders.append(s.folder.name)
            verdicts.append(srep["verdict"])
            flags += [f"{f} (support)" for f in srep["failed"] + srep["warned"]]
        vals = [lg.val_bpb for lg in latest.values()]
        score, source = statistics.mean(vals), f"mean of {len(vals)} seeds over {len(folders)} folders (latest runs)"
    elif rec.claimed_bpb() is not None:
        score, source, vals = rec.claimed_bpb(), f"{rec.submission_name} val_bpb", [lg.val_bpb for lg in rec.scored_logs]
    else:
        vals = [lg.val_bpb for lg in rec.scored_logs]
        if not vals:
            return None
        score, source = statistics.mean(vals), f"mean of {len(vals)} logged seed scores"
    known = [b for b in sizes if b is not None]
    return {"folder": rec.folder.name, "folders": folders, "date": _date(sub, rec.folder),
            "author": sub.get("github_id") or sub.get("author"), "author_name": sub.get("author"),
            "name": sub.get("name") or rec.folder.name, "val_bpb": float(score), "score": four_places(score),
            "score_from": source, "bytes": max(known) if known else None, "seeds": len(vals), "seed_bpbs": vals,
            "tokens_per_byte": rec.tokens_per_byte(),
            "verdict": max(verdicts, key=("PASS", "WARN", "FAIL").index), "flags": flags}


def _bytes(rep: dict) -> int | None:
    return next(v for v in rep["rules"] if v["rule"] == "artifact_size")["numbers"].get("bytes_total")


def collect(root: str | Path, skipped: list[str] | None = None) -> list[dict]:
    """One row per record folder under ``root`` that states a val_bpb, sorted best first; folders
    that cannot be read, or are not record folders, are left out with a note in ``skipped``."""
    root = Path(root)
    if not root.is_dir():
        raise PgolfError(f"{root}: no such records folder")
    records: list[Record] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            rec = read_record(folder)
            if rec.submission_error:  # `check` reports it as a failed rule; a table cannot use the folder
                raise PgolfError(rec.submission_error)
        except PgolfError as e:
            if skipped is not None:
                skipped.append(str(e))
            continue
        if not rec.is_record_folder:
            if skipped is not None and (rec.logs or rec.files):
                skipped.append(f"{folder}: not a record folder (no README.md and no submission.json)")
            continue
        records.append(rec)
    folded: dict[str, list[Record]] = {}
    for rec in [r for r in records if is_support(r)]:
        target = _supported(rec, records)
        if target is not None:
            folded.setdefault(target.folder.name, []).append(rec)
    hidden = {s.folder.name for group in folded.values() for s in group}
    rows = [row for rec in records if rec.folder.name not in hidden
            if (row := _row(rec, folded.get(rec.folder.name, []))) is not None]
    rows.sort(key=lambda r: (r["val_bpb"], r["date"] or ""))
    _deltas_and_tests(rows)
    return rows


def _deltas_and_tests(rows: list[dict]) -> None:
    from pgolf.referee.stats import significance

    for row, below in zip(rows, rows[1:] + [None]):
        row["delta"] = None
        row["vs"] = row["p_readme"] = row["p_welch"] = None
        if below is None:
            continue
        if len(row["seed_bpbs"]) > 1 and row["tokens_per_byte"]:
            ref_seeds = below["seed_bpbs"] if len(below["seed_bpbs"]) > 1 else None  # as `check --against` takes it
            ref = statistics.mean(ref_seeds) if ref_seeds else below["val_bpb"]
            res = significance(row["seed_bpbs"], ref, row["tokens_per_byte"], ref_seeds)
            row["vs"], row["p_readme"], row["p_welch"] = below["folder"], res["p_margin_nats"], res["p_welch_plain"]
    for prev, row in zip(rows, rows[1:]):
        row["delta"] = row["val_bpb"] - prev["val_bpb"]


def best_over_time(rows: list[dict]) -> list[dict]:
    """The rows that set a new best when taken in date order (undated rows are left out)."""
    out, best = [], None
    for r in sorted((r for r in rows if r["date"]), key=lambda r: (r["date"], r["val_bpb"])):
        if best is None or r["val_bpb"] < best:
            best = r["val_bpb"]
            out.append(r)
    return out


def _p(x) -> str:
    return "" if x is None else f"{x:.3g}"


def markdown(rows: list[dict]) -> str:
    lines = ["| # | val_bpb | delta | date | author | bytes | seeds | check | p (README / Welch) vs below | name |",
             "|---:|---:|---:|---|---|---:|---:|---|---|---|"]
    for i, r in enumerate(rows, 1):
        delta = "" if r["delta"] is None else f"+{r['delta']:.4f}"
        size = f"{r['bytes']:,}" if isinstance(r["bytes"], int) else "?"
        name = str(r["name"]).replace("|", "/")
        check = r["verdict"] + (f" ({', '.join(r['flags'])})" if r["flags"] else "")
        p = f"{_p(r['p_readme'])} / {_p(r['p_welch'])}" if r["p_readme"] is not None else ""
        lines.append(f"| {i} | {r['score']} | {delta} | {r['date'] or '?'} | {r['author'] or '?'} | {size} | "
                     f"{r['seeds']} | {check} | {p} | {name} |")
    return "\n".join(lines) + "\n"


def write_png(rows: list[dict], path: str | Path) -> None:
    from pgolf.report.plots import best_over_time_png

    best_over_time_png([r for r in rows if r["date"]], best_over_time(rows), path)


def write_markdown(rows: list[dict], path: str | Path) -> None:
    atomic_write(path, markdown(rows).encode())
