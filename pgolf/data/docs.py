"""Documents as text, streamed from a JSON-lines file.

Each line of the file is a JSON object with a ``"text"`` key (other keys, such as ``source``,
are ignored). The file may be plain or compressed; the codec is chosen by the suffix:
``.gz`` (gzip), ``.xz`` (lzma), ``.zst`` (zstandard), anything else is read as plain UTF-8.
Files are read line by line, so a 40 GB export streams in constant memory.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from pgolf.errors import PgolfError

COMPRESSED_SUFFIXES = (".gz", ".xz", ".zst")


@contextmanager
def open_text(path: str | Path) -> Iterator[io.TextIOBase]:
    """Open ``path`` for reading UTF-8 text, decompressing by suffix."""
    path = Path(path)
    if not path.is_file():
        raise PgolfError(f"{path}: documents file not found")
    suffix = path.suffix.lower()
    raw = None
    try:
        if suffix == ".gz":
            raw = gzip.open(path, "rb")
        elif suffix == ".xz":
            raw = lzma.open(path, "rb")
        elif suffix == ".zst":
            import zstandard

            raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        else:
            raw = open(path, "rb")
        text = io.TextIOWrapper(io.BufferedReader(raw) if suffix == ".zst" else raw,
                                encoding="utf-8", newline="\n")
    except OSError as e:
        if raw is not None:
            raw.close()
        raise PgolfError(f"{path}: cannot open ({e})") from None
    try:
        yield text
    finally:
        text.close()


def parse_line(line: str, path: str | Path, lineno: int) -> str:
    """The ``"text"`` of one JSON line; a :class:`PgolfError` naming file and line otherwise."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise PgolfError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict) or "text" not in obj:
        raise PgolfError(f"{path}:{lineno}: JSON object has no \"text\" key")
    text = obj["text"]
    if not isinstance(text, str):
        raise PgolfError(f"{path}:{lineno}: \"text\" is {type(text).__name__}, not a string")
    return text


def iter_docs(path: str | Path, start: int = 0, stop: int | None = None) -> Iterator[str]:
    """Yield the text of documents ``start`` .. ``stop - 1`` (0-based, in file order).

    Blank lines are skipped and not counted. Decoding or compression errors become a
    :class:`PgolfError` naming the file and line.
    """
    lineno = 0
    with open_text(path) as f:
        index = 0
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if stop is not None and index >= stop:
                    return
                if index >= start:
                    yield parse_line(line, path, lineno)
                index += 1
        except _read_errors(path) as e:
            raise PgolfError(f"{path}:{lineno + 1}: cannot read ({e})") from None


def _read_errors(path: str | Path) -> tuple[type[BaseException], ...]:
    """Exceptions that mean a corrupt or truncated file (zstandard has its own)."""
    errors: tuple[type[BaseException], ...] = (UnicodeDecodeError, EOFError, OSError, lzma.LZMAError)
    if str(path).lower().endswith(".zst"):
        import zstandard

        errors += (zstandard.ZstdError,)
    return errors


def head(path: str | Path, n: int) -> list[str]:
    """The first ``n`` documents' texts (a convenience for tests and quick looks)."""
    return list(islice(iter_docs(path), n))


def count_docs(path: str | Path) -> int:
    """How many documents the file holds (reads it once)."""
    return sum(1 for _ in iter_docs(path))


# ---- the documents' source manifest -------------------------------------------------------
# The hub ships ``docs_selected.source_manifest.json`` beside ``docs_selected.jsonl``: it says how
# many documents there are (``num_docs``), how many of the first form the val split
# (``docs_val``) and the sha256 of the JSONL (``docs_sha256``).

def source_manifest_path(docs: str | Path) -> Path:
    """``NAME.source_manifest.json`` beside ``NAME.jsonl`` (also for ``NAME.jsonl.xz`` and the like)."""
    docs = Path(docs)
    name = docs.name
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    return docs.with_name(f"{name.removesuffix('.jsonl')}.source_manifest.json")


def read_source_manifest(docs: str | Path) -> dict | None:
    """The source manifest beside ``docs``, or None when there is none."""
    path = source_manifest_path(docs)
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PgolfError(f"{path}: not a valid source manifest ({e})") from None
    if not isinstance(obj, dict):
        raise PgolfError(f"{path}: not a JSON object")
    return obj
