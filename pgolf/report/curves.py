"""A run folder's curves: ``metrics.jsonl`` rows, its ``config.json`` and ``summary.json``.

``metrics.jsonl`` (written by ``train/runlog.py``) holds one JSON object per line: training rows
``{step, train_time_ms, train_loss}`` and validation rows ``{step, train_time_ms, val_loss,
val_bpb}``. A run is labelled with its folder name and the config keys on which the runs drawn
together differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pgolf.errors import PgolfError

# Keys that differ between any two runs without saying anything about the recipe.
UNINFORMATIVE_KEYS = ("run_id", "out_dir")


@dataclass
class RunCurves:
    name: str
    path: Path
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    train: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, train_loss)
    val: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, val_bpb)


def _read_json(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PgolfError(f"{path}: cannot read ({e})") from None
    if not isinstance(obj, dict):
        raise PgolfError(f"{path}: expected a JSON object")
    return obj


def read_run(path: str | Path) -> RunCurves:
    """The curves of one run folder; a folder without ``metrics.jsonl`` is a one-line error."""
    path = Path(path)
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise PgolfError(f"{path}: not a run folder (no metrics.jsonl)")
    run = RunCurves(name=path.name, path=path)
    for name, attr in (("config.json", "config"), ("summary.json", "summary")):
        if (path / name).is_file():
            setattr(run, attr, _read_json(path / name))
    for n, line in enumerate(metrics.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            step, seconds = int(row["step"]), float(row.get("train_time_ms", 0)) / 1000
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise PgolfError(f"{metrics}:{n}: not a metrics row") from None
        if "train_loss" in row:
            run.train.append((step, seconds, float(row["train_loss"])))
        if "val_bpb" in row:
            run.val.append((step, seconds, float(row["val_bpb"])))
    return run


def differing_keys(configs: list[dict]) -> list[str]:
    """Config keys whose values are not the same in every config (a missing key differs)."""
    keys = set().union(*configs) if configs else set()
    missing = object()
    out = [k for k in keys if len({json.dumps(c.get(k, missing), sort_keys=True, default=repr) for c in configs}) > 1]
    return sorted(k for k in out if k not in UNINFORMATIVE_KEYS)


def labels(runs: list[RunCurves], max_keys: int = 4) -> list[str]:
    """``name (key=value, ...)`` for each run, naming the keys on which the runs differ."""
    keys = differing_keys([r.config for r in runs]) if len(runs) > 1 else []
    names = [r.name for r in runs]
    out = []
    for run in runs:
        name = run.name if names.count(run.name) == 1 else f"{run.path.parent.name}/{run.name}"
        shown = [f"{k}={run.config.get(k, '-')}" for k in keys[:max_keys]]
        if len(keys) > max_keys:
            shown.append(f"+{len(keys) - max_keys} more")
        out.append(f"{name} ({', '.join(shown)})" if shown else name)
    return out
