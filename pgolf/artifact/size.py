"""Size accounting: code bytes + model bytes against the 16,000,000-byte cap."""

from __future__ import annotations

import sys
from pathlib import Path

from pgolf.errors import PgolfError

CAP_BYTES = 16_000_000

# Modules a submission needs at train/export/eval time; interface-only modules are left out.
_NOT_SUBMITTED = ("pgolf.cli", "pgolf.run", "pgolf.__main__")


def submitted_modules() -> list[str]:
    """The pgolf modules loaded in this process that training, export and eval use."""
    return sorted(
        name
        for name, mod in sys.modules.items()
        if name.startswith("pgolf") and getattr(mod, "__file__", None)
        and name not in _NOT_SUBMITTED and not name.endswith(".commands")
        and not name.startswith(("pgolf.referee", "pgolf.bench", "pgolf.submit"))
    )


def code_bytes() -> tuple[int, list[str]]:
    """Until `pgolf pack` exists: the raw bytes of the package source files that were used."""
    mods = submitted_modules()
    total = sum(Path(sys.modules[m].__file__).stat().st_size for m in mods)
    return total, mods


def size_report(model_bytes: int, code: int, code_source: str, allow_over_cap: bool = False) -> dict:
    total = model_bytes + code
    report = {
        "bytes_code": code,
        "bytes_model": model_bytes,
        "bytes_total": total,
        "headroom": CAP_BYTES - total,
        "code_source": code_source,
    }
    if total > CAP_BYTES and not allow_over_cap:
        raise PgolfError(
            f"artifact is {total:,} bytes, {total - CAP_BYTES:,} over the {CAP_BYTES:,} cap "
            "(pass allow_over_cap=true to keep going)"
        )
    return report
