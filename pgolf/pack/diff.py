"""What differs between two submission files: the recipe, the per-run defaults, the modules.

`pgolf submit` refuses seeds whose ``train_gpt.py`` differ; this says why in one line, naming
the config keys with both values or the bundled modules whose source differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgolf.config import RUN_FIELDS, Config
from pgolf.pack.builder import read_packed

SHOWN = 6  # keys or modules named before "and N more"


def listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def dict_differences(this: dict[str, Any], other: dict[str, Any], defaults: dict[str, Any] | None = None) -> list[str]:
    """``key=this vs other`` for every key whose values differ; a key one side lacks takes its
    value from ``defaults`` (shown as ``V (default)``)."""
    defaults = defaults or {}
    out = []

    def show(d: dict, k: str) -> str:
        return repr(d[k]) if k in d else f"{defaults[k]!r} (default)" if k in defaults else "(absent)"

    for k in sorted(set(this) | set(other)):
        if this.get(k, defaults.get(k, ...)) != other.get(k, defaults.get(k, ...)):
            out.append(f"{k}={show(this, k)} vs {show(other, k)}")
    return out


def module_differences(this: dict[str, list], other: dict[str, list]) -> list[str]:
    """Bundled modules present in only one file, or with different source."""
    out = [f"{m} (only here)" for m in sorted(set(this) - set(other))]
    out += [f"{m} (missing here)" for m in sorted(set(other) - set(this))]
    out += [m for m in sorted(set(this) & set(other)) if this[m] != other[m]]
    return out


def describe(this: bytes, other: bytes) -> str:
    """One phrase on how file ``this`` differs from file ``other`` ("" when they are identical);
    values read ``this vs other``."""
    if this == other:
        return ""
    pa, pb = read_packed(this), read_packed(other)
    if pa is None or pb is None:
        la, lb = this.decode("latin-1").split("\n"), other.decode("latin-1").split("\n")
        line = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        return f"not both written by `pgolf pack`; the text differs from line {line + 1}"
    parts = []
    if pa["recipe"] != pb["recipe"]:
        diffs = dict_differences(pa["recipe"], pb["recipe"], Config().to_dict())
        parts.append("recipe " + listed(diffs))
        if diffs and {d.split("=", 1)[0] for d in diffs} <= set(RUN_FIELDS):
            parts[-1] += (" (per-run fields baked in by an older `pgolf pack`; regenerate each run's file "
                          "with `pgolf pack RUN_DIR --out RUN_DIR --no-model`)")
    if pa["run"] != pb["run"]:
        parts.append("per-run defaults " + listed(dict_differences(pa["run"], pb["run"])))
    mods = module_differences(pa["modules"], pb["modules"])
    if mods:
        parts.append("module source " + listed(mods))
    if pa["loader"] != pb["loader"]:
        parts.append("the loader (packed by another pgolf version)")
    return "; ".join(parts)


def describe_files(this: str | Path, other: str | Path) -> str:
    return describe(Path(this).read_bytes(), Path(other).read_bytes())
