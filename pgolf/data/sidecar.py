"""The per-token byte sidecar, and the one function that says how many bytes each target stands for.

A dataset built through a text transform (:mod:`pgolf.data.transforms`: CaseOps v1, ``case``)
cannot count bytes from the pieces alone: operator pieces stand for no source bytes. Such a
dataset carries, beside each val shard ``fineweb_val_NNNNNN.bin``, a sidecar
``fineweb_val_bytes_NNNNNN.bin`` in the same format (header + one little-endian uint16 per
token) holding each token's bytes of the ORIGINAL text (BOS 0, operators 0). Sidecar shard i is aligned token for token with val shard i.

:func:`target_bytes_for` is the single code path for every place that scores a split (eval,
training logs, prove): the sidecar when the split has one, the official rule
(:mod:`pgolf.data.bytes`) otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgolf.data.bytes import SPACE, ByteTable, stream_target_bytes
from pgolf.data.shards import read_header, read_shard, shard_files
from pgolf.data.tokenizer import proto_fields
from pgolf.errors import PgolfError

SUFFIX = "bytes"  # fineweb_{split}_bytes_NNNNNN.bin
_SIDECAR_RE = re.compile(rf"fineweb_(val|train)_{SUFFIX}_(\d+)\.bin")


def sidecar_name(split: str, index: int) -> str:
    return f"fineweb_{split}_{SUFFIX}_{index:06d}.bin"


def sidecar_glob(split: str) -> str:
    """The glob of ``split``'s sidecars (manifests record the val one as ``val_bytes_glob``)."""
    return f"fineweb_{split}_{SUFFIX}_[0-9]*.bin"


def is_sidecar(name: str, split: str | None = None) -> bool:
    m = _SIDECAR_RE.fullmatch(name)
    return m is not None and (split is None or m.group(1) == split)


def sidecar_files(data_dir: str | Path, split: str) -> list[Path]:
    return sorted(p for p in Path(data_dir).glob(sidecar_glob(split)) if is_sidecar(p.name, split))


def check_pairs(data_dir: str | Path, split: str) -> int:
    """How many sidecars ``split`` has; an error unless sidecar i counts the tokens of shard i."""
    sides = sidecar_files(data_dir, split)
    if not sides:
        return 0
    shards = shard_files(data_dir, split)
    if len(sides) != len(shards):
        raise PgolfError(f"{data_dir}: {len(sides)} byte sidecars for {len(shards)} {split} shards")
    for shard, side in zip(shards, sides):
        n, m = read_header(shard), read_header(side)
        if n != m:
            raise PgolfError(f"{side}: {m:,} entries for the {n:,} tokens of {shard.name}")
    return len(sides)


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
# A token's original bytes are the weights (``transform.byte_weights``) of the span of input
# text SentencePiece aligns it with. Where the tokens spell the input back exactly (no
# normalisation changed it), the spans follow from the pieces alone: each piece spans its own
# text, and a character written as byte-fallback pieces is spanned, whole, by its last byte
# piece. Elsewhere the spans are SentencePiece's own alignment (its serialized proto).

@dataclass(frozen=True)
class PieceText:
    """Per-piece facts for spans, indexed by token id."""

    length: np.ndarray  # int64: UTF-8 bytes the piece adds to the decoded text (0 for byte pieces)
    byte: np.ndarray  # int16: the byte a byte-fallback piece stands for, -1 for other pieces


def piece_text(sp) -> PieceText:
    n = sp.GetPieceSize()
    length = np.zeros(n, dtype=np.int64)
    byte = np.full(n, -1, dtype=np.int16)
    for i in range(n):
        if sp.IsByte(i):
            byte[i] = int(sp.IdToPiece(i)[3:5], 16)
        elif not (sp.IsControl(i) or sp.IsUnknown(i) or sp.IsUnused(i)):
            length[i] = len(sp.IdToPiece(i).replace(SPACE, " ").encode("utf-8"))
    return PieceText(length=length, byte=byte)


def spans_from_pieces(ids: np.ndarray, pieces: PieceText) -> tuple[np.ndarray, np.ndarray]:
    """(begin, end) byte offsets of each token in the text the tokens decode to."""
    ids = np.asarray(ids, dtype=np.int64)
    lengths = pieces.length[ids].copy()
    byte = pieces.byte[ids]
    is_byte = byte >= 0
    if is_byte.any():
        cont = is_byte & ((byte & 0xC0) == 0x80)  # a UTF-8 continuation byte
        lead = is_byte & ~cont
        last = is_byte & ~np.append(cont[1:], False)  # no continuation follows: the character ends here
        pos = np.arange(len(ids))
        start = np.maximum.accumulate(np.where(lead, pos, -1))
        lengths[last] = pos[last] - start[last] + 1
    ends = np.cumsum(lengths)
    return ends - lengths, ends


def spans_from_proto(sp, text: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(ids, begin, end) of ``text`` encoded, the spans being SentencePiece's own alignment."""
    ids, begins, ends = [], [], []
    for num, value in proto_fields(sp.encode(text, out_type="serialized_proto")):
        if num == 2 and isinstance(value, bytes):  # SentencePieceText.pieces
            piece = dict(proto_fields(value))  # 2 id, 4 begin, 5 end
            ids.append(int(piece.get(2, 0)))
            begins.append(int(piece.get(4, 0)))
            ends.append(int(piece.get(5, 0)))
    return ids, np.array(begins, dtype=np.int64), np.array(ends, dtype=np.int64)


def doc_sidecar(sp, pieces: PieceText, text: str, ids: list[int], decoded: str,
                byte_weights: Callable[[bytes], np.ndarray]) -> np.ndarray:
    """``[0] + original bytes of each token`` for one document encoded as ``[BOS] + ids``.

    ``text`` is the transformed text that was encoded, ``decoded`` what ``ids`` decode to.
    """
    data = text.encode("utf-8")
    if decoded == text:
        begins, ends = spans_from_pieces(np.asarray(ids), pieces)
    else:
        again, begins, ends = spans_from_proto(sp, text)
        if again != list(ids):
            raise PgolfError("the tokenizer's alignment does not match its encoding")
    cw = np.concatenate(([0], np.cumsum(byte_weights(data), dtype=np.int64)))
    counts = cw[ends] - cw[begins]
    if len(counts) and int(counts.max()) > 65535:
        raise PgolfError(f"a token stands for {int(counts.max()):,} bytes; a sidecar holds at most 65,535")
    return np.concatenate(([0], counts)).astype(np.uint16)
