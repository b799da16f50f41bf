"""Size accounting: code bytes + model bytes against the 16,000,000-byte cap."""

from __future__ import annotations

import sys
from pathlib import Path

from pgolf.errors import PgolfError

CAP_BYTES = 16_000_000

# Set by the packed train_gpt.py at start: code bytes are then that file's real bytes.
PACKED_FILE: str | None = None


def code_bytes(cfg=None, write_to: str | Path | None = None) -> tuple[int, list[str]]:
    """Bytes of the submission's ``train_gpt.py`` for ``cfg`` and the modules it bundles.

    Inside a packed file: the size of that file. Otherwise the size of the file `pgolf pack`
    would write for this config now (generated from the package source, not estimated); with
    ``write_to`` that file is also written there, so a run keeps the exact code it measured.
    """
    if PACKED_FILE:
        return Path(PACKED_FILE).stat().st_size, sorted(m for m in sys.modules if m.startswith("pgolf."))
    from pgolf.config import Config
    from pgolf.pack.builder import bundle, write_packed

    config = (cfg or Config()).to_dict()
    mods = bundle(config)
    if write_to is not None:
        return write_packed(config, write_to, mods).stat().st_size, list(mods)
    from pgolf.pack.builder import build_source

    return len(build_source(config, mods).encode("latin-1")), list(mods)


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
