"""`pgolf leaderboard`: the records of a folder sorted by val_bpb, and the best score over time."""

from __future__ import annotations

import re
from pathlib import Path

from pgolf.data.shards import atomic_write
from pgolf.errors import PgolfError
from pgolf.referee.records import read_record
from pgolf.referee.rules import artifact_size


def _date(sub: dict, folder: Path) -> str | None:
    raw = str(sub.get("date") or "")
    m = re.match(r"(\d{4}-\d{2}-\d{2})", raw) or re.match(r"(\d{4}-\d{2}-\d{2})", folder.name)
    return m.group(1) if m else None


def collect(root: str | Path, skipped: list[str] | None = None) -> list[dict]:
    """One row per record folder under ``root`` that states a val_bpb, sorted best first; folders
    that cannot be read are left out, their errors appended to ``skipped``."""
    root = Path(root)
    if not root.is_dir():
        raise PgolfError(f"{root}: no such records folder")
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (folder / "submission.json").is_file() and not any(folder.glob("*.log")):
            continue
        try:
            rec = read_record(folder)
            if rec.submission_error:  # `check` reports it as a failed rule; a table cannot use the folder
                raise PgolfError(rec.submission_error)
        except PgolfError as e:
            if skipped is not None:
                skipped.append(str(e))
            continue
        bpb = rec.mean_bpb()
        if bpb is None:
            continue
        sub = rec.submission or {}
        size = sub.get("bytes_total") if isinstance(sub.get("bytes_total"), int) else artifact_size(rec).get("bytes_total")
        rows.append({"folder": folder.name, "date": _date(sub, folder), "author": sub.get("author") or sub.get("github_id"),
                     "name": sub.get("name") or folder.name, "val_bpb": float(bpb), "bytes": size,
                     "seeds": len(rec.seed_bpbs())})
    rows.sort(key=lambda r: (r["val_bpb"], r["date"] or ""))
    for prev, row in zip([None] + rows[:-1], rows):
        row["delta"] = None if prev is None else row["val_bpb"] - prev["val_bpb"]
    return rows


def best_over_time(rows: list[dict]) -> list[dict]:
    """The rows that set a new best when taken in date order (undated rows are left out)."""
    out, best = [], None
    for r in sorted((r for r in rows if r["date"]), key=lambda r: (r["date"], r["val_bpb"])):
        if best is None or r["val_bpb"] < best:
            best = r["val_bpb"]
            out.append(r)
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["| # | val_bpb | delta | date | author | bytes | seeds | name |", "|---:|---:|---:|---|---|---:|---:|---|"]
    for i, r in enumerate(rows, 1):
        delta = "" if r["delta"] is None else f"+{r['delta']:.4f}"
        size = f"{r['bytes']:,}" if isinstance(r["bytes"], int) else "?"
        name = str(r["name"]).replace("|", "/")
        lines.append(f"| {i} | {r['val_bpb']:.4f} | {delta} | {r['date'] or '?'} | {r['author'] or '?'} | {size} | "
                     f"{r['seeds']} | {name} |")
    return "\n".join(lines) + "\n"


def write_png(rows: list[dict], path: str | Path) -> None:
    from pgolf.report.plots import best_over_time_png

    best_over_time_png([r for r in rows if r["date"]], best_over_time(rows), path)


def write_markdown(rows: list[dict], path: str | Path) -> None:
    atomic_write(path, markdown(rows).encode())
