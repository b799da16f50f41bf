"""The token shard format, exactly as the challenge writes it.

256 little-endian int32 header words (magic 20240520, version 1, token count N, zeros), then N
little-endian uint16 tokens; the file is exactly 1024 + 2N bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pgolf.errors import PgolfError
from pgolf.io import atomic_write

MAGIC = 20240520
VERSION = 1
HEADER_WORDS = 256
HEADER_BYTES = HEADER_WORDS * 4


def read_header(path: str | Path) -> int:
    """Validate the header and file size; return the token count."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as e:
        raise PgolfError(f"{path}: cannot read shard ({e.strerror})") from None
    if len(raw) < HEADER_BYTES:
        raise PgolfError(f"{path}: truncated header ({len(raw)} of {HEADER_BYTES} bytes)")
    header = np.frombuffer(raw, dtype="<i4")
    if int(header[0]) != MAGIC:
        raise PgolfError(f"{path}: wrong magic {int(header[0])} (expected {MAGIC}); not a token shard")
    if int(header[1]) != VERSION:
        raise PgolfError(f"{path}: unsupported shard version {int(header[1])} (expected {VERSION})")
    n = int(header[2])
    if n < 0:
        raise PgolfError(f"{path}: negative token count {n} in header")
    want = HEADER_BYTES + 2 * n
    if size != want:
        kind = "truncated" if size < want else "too long"
        raise PgolfError(f"{path}: {kind}: header says {n} tokens ({want} bytes), file has {size} bytes")
    return n


def read_shard(path: str | Path, vocab_size: int | None = None) -> np.ndarray:
    """All tokens of a shard as uint16; with ``vocab_size``, every token must be below it."""
    n = read_header(path)
    tokens = np.fromfile(path, dtype="<u2", count=n, offset=HEADER_BYTES)
    if len(tokens) != n:
        raise PgolfError(f"{path}: truncated: read {len(tokens)} of {n} tokens")
    if vocab_size is not None and n:
        if int(tokens.max()) >= vocab_size:
            pos = int(np.argmax(tokens >= vocab_size))
            raise PgolfError(f"{path}: token {int(tokens[pos])} at position {pos} is >= vocab size {vocab_size}")
    return tokens


def shard_bytes(tokens: np.ndarray) -> bytes:
    """The exact bytes of a shard holding ``tokens``."""
    tokens = np.asarray(tokens)
    if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) > 65535):
        raise PgolfError("shard tokens must fit in uint16")
    header = np.zeros(HEADER_WORDS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, len(tokens)
    return header.tobytes() + tokens.astype("<u2").tobytes()


def write_shard(path: str | Path, tokens: np.ndarray) -> None:
    atomic_write(path, shard_bytes(tokens))


# A token shard's name. Byte sidecars (``fineweb_val_bytes_NNNNNN.bin``, :mod:`pgolf.data.sidecar`)
# share the prefix and the loose glob ``fineweb_val_*.bin``, so every place that lists shards
# goes through the three helpers below, which never match a sidecar.
_SHARD_RE = re.compile(r"fineweb_(val|train)_(\d+)\.bin")


def shard_name(split: str, index: int) -> str:
    return f"fineweb_{split}_{index:06d}.bin"


def shard_glob(split: str) -> str:
    """The glob of ``split``'s token shards (manifests record it as ``val_glob`` / ``train_glob``)."""
    return f"fineweb_{split}_[0-9]*.bin"


def is_shard(name: str, split: str | None = None) -> bool:
    """Is ``name`` a token shard (of ``split``, when given)? Never true for a byte sidecar."""
    m = _SHARD_RE.fullmatch(name)
    return m is not None and (split is None or m.group(1) == split)


def shard_files(data_path: str | Path, split: str) -> list[Path]:
    """Sorted ``fineweb_{split}_NNNNNN.bin`` files of a dataset folder; an error if there are none.

    Byte sidecars (``fineweb_{split}_bytes_NNNNNN.bin``) are not token shards and never match.
    """
    files = sorted(p for p in Path(data_path).glob(shard_glob(split)) if is_shard(p.name, split))
    if not files:
        raise PgolfError(f"{data_path}: no fineweb_{split}_*.bin shards (run `pgolf data fetch` first)")
    return files


def load_split(data_path: str | Path, split: str, vocab_size: int | None = None) -> np.ndarray:
    """All tokens of one split, shards concatenated in order."""
    parts = [read_shard(f, vocab_size) for f in shard_files(data_path, split)]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
