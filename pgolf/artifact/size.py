"""Size accounting: code bytes + model bytes against the 16,000,000-byte cap.

The code bytes are measured by the packer (``pgolf.pack.builder.packed_code``) or, inside a
packed file, are that file's size; this module only adds and checks."""

from __future__ import annotations

from pgolf.errors import PgolfError

CAP_BYTES = 16_000_000


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
