"""The per-token byte sidecar, and the one function that says how many bytes each target stands for.

A dataset built through a text transform (the lossless case transform, :mod:`pgolf.data.case`)
cannot count bytes from the pieces alone: operator pieces stand for no source bytes, and a
lowered capital may differ in length from the original. Such a dataset carries, beside each val
shard ``fineweb_val_NNNNNN.bin``, a sidecar ``fineweb_val_bytes_NNNNNN.bin`` in the same format
(header + one little-endian uint16 per token) holding each token's bytes of the ORIGINAL text
(BOS 0, operators 0). Sidecar shard i is aligned token for token with val shard i.

:func:`target_bytes_for` is the single code path for every place that scores a split (eval,
training logs, prove): the sidecar when the split has one, the official rule
(:mod:`pgolf.data.bytes`) otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pgolf.data.bytes import ByteTable, stream_target_bytes
from pgolf.data.shards import read_shard
from pgolf.errors import PgolfError

SUFFIX = "bytes"  # fineweb_{split}_bytes_NNNNNN.bin


def sidecar_name(split: str, index: int) -> str:
    return f"fineweb_{split}_{SUFFIX}_{index:06d}.bin"


def sidecar_files(data_dir: str | Path, split: str) -> list[Path]:
    return sorted(Path(data_dir).glob(f"fineweb_{split}_{SUFFIX}_[0-9]*.bin"))


def load_sidecar(data_dir: str | Path, split: str) -> np.ndarray | None:
    """Bytes of every token of ``split`` (aligned with its token stream), or None without a sidecar."""
    files = sidecar_files(data_dir, split)
    if not files:
        return None
    parts = [read_shard(f) for f in files]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def target_bytes_for(data_dir: str | Path | None, split: str, tokens: np.ndarray,
                     table: ByteTable) -> np.ndarray:
    """Bytes of every target of the contiguous stream ``tokens`` (element i: ``tokens[i+1]``).

    From the split's sidecar when ``data_dir`` has one for ``split`` (it must match the stream's
    length), from the official rule over ``table`` otherwise.
    """
    side = load_sidecar(data_dir, split) if data_dir is not None else None
    if side is None:
        return stream_target_bytes(tokens, table)
    if len(side) != len(tokens):
        raise PgolfError(f"{data_dir}: byte sidecar of {split} has {len(side):,} entries for "
                         f"{len(tokens):,} tokens; rebuild the data")
    return side[1:].astype(np.int64)


# ---- computing a sidecar while encoding ---------------------------------------------------

def surfaces(sp) -> list[bytes]:
    """The UTF-8 bytes each piece adds to the decoded text (lossless tokenizer, no dummy prefix)."""
    out = []
    for i in range(sp.GetPieceSize()):
        if sp.IsControl(i) or sp.IsUnknown(i) or sp.IsUnused(i):
            out.append(b"")
        elif sp.IsByte(i):
            out.append(bytes([int(sp.IdToPiece(i)[3:5], 16)]))
        else:
            out.append(sp.IdToPiece(i).replace("\u2581", " ").encode("utf-8"))
    return out
