"""THE byte rule: how many bytes of text each target token stands for.

Every place that counts bytes (inspect, training logs, eval, prove, check) calls this module.
Official rule for a SentencePiece vocabulary: control/unknown/unused pieces count 0 bytes;
byte-fallback pieces 1; any other piece the UTF-8 length of its text without a leading ``▁``,
plus 1 for that ``▁`` unless the previous token is a control/unknown/unused piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgolf.errors import PgolfError

SPACE = "\u2581"  # SentencePiece's word-boundary marker


@dataclass(frozen=True)
class ByteTable:
    """Per-piece facts the rule needs, indexed by token id."""

    base: np.ndarray  # int32: bytes of the piece without its leading marker
    leading_space: np.ndarray  # bool: piece starts with the marker
    boundary: np.ndarray  # bool: control / unknown / unused piece (no space after it)

    @property
    def vocab_size(self) -> int:
        return len(self.base)

    def target_bytes(self, prev: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Bytes of each ``target`` token given the token before it (arrays of equal shape)."""
        prev = np.asarray(prev, dtype=np.int64)
        target = np.asarray(target, dtype=np.int64)
        space = self.leading_space[target] & ~self.boundary[prev]
        return self.base[target] + space.astype(np.int32)


def load_sentencepiece(model_path: str | Path):
    import sentencepiece as spm

    path = Path(model_path)
    if not path.is_file():
        raise PgolfError(f"{path}: tokenizer model not found")
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(str(path))
    except (OSError, RuntimeError) as e:
        raise PgolfError(f"{path}: not a SentencePiece model ({str(e).splitlines()[0]})") from None
    return sp


def table_from_sentencepiece(sp) -> ByteTable:
    n = sp.GetPieceSize()
    base = np.zeros(n, dtype=np.int32)
    lead = np.zeros(n, dtype=bool)
    bound = np.zeros(n, dtype=bool)
    for i in range(n):
        if sp.IsControl(i) or sp.IsUnknown(i) or sp.IsUnused(i):
            bound[i] = True
            continue
        if sp.IsByte(i):
            base[i] = 1
            continue
        piece = sp.IdToPiece(i)
        if piece.startswith(SPACE):
            lead[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return ByteTable(base=base, leading_space=lead, boundary=bound)


def load_table(model_path: str | Path, vocab_size: int | None = None) -> ByteTable:
    """The byte table of a SentencePiece model; with ``vocab_size``, it must match the model's."""
    table = table_from_sentencepiece(load_sentencepiece(model_path))
    if vocab_size is not None and table.vocab_size != vocab_size:
        raise PgolfError(f"{model_path}: tokenizer has {table.vocab_size} pieces but the model's vocab_size is "
                         f"{vocab_size}; pass the matching data and tokenizer")
    return table


def stream_target_bytes(tokens: np.ndarray, table: ByteTable) -> np.ndarray:
    """Bytes of every target of a contiguous stream: element i is the bytes of ``tokens[i+1]``."""
    tokens = np.asarray(tokens)
    return table.target_bytes(tokens[:-1], tokens[1:])
