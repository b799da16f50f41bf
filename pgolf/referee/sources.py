"""What code a record folder runs, so that every byte of it is counted.

The entry point is ``train_gpt.py`` (or the one ``train_gpt*.py`` a folder ships under another
name). From its source, decoded first when it is a self-extracting wrapper
(``exec(lzma.decompress(base64.b85decode("...")))`` and the zlib / bz2 / brotli variants), every
other code file of the folder that it imports (``import m`` / ``from m import`` with ``m.py`` in the
folder) or names (a ``"file.py"`` / ``"kernel.cpp"`` string: an ``exec(open(...))`` stub, a C++
extension compiled at run time) is followed, and so on from those files. All of them run, so all
of them count.
"""

from __future__ import annotations

import base64
import bz2
import lzma
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CODE_SUFFIXES = (".py", ".c", ".cc", ".cpp", ".cu", ".cuh", ".h", ".hpp", ".so")
_WRAPPER = re.compile(r"\b(b85decode|b64decode|a85decode)\(\s*[bB]?([\"'])(.+?)\2", re.S)
_IMPORT = re.compile(r"(?:^|[;:\s])import\s+([A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*(?:\s+as\s+\w+)?)*)")
_FROM = re.compile(r"(?:^|[;:\s])from\s+([A-Za-z_][\w.]*)\s+import\b")


@dataclass
class CodeFile:
    path: Path
    rel: str  # relative to the record folder
    size: int
    why: str  # "entry point" or how another counted file reaches it


@dataclass
class Sources:
    entry: CodeFile | None
    files: list[CodeFile] = field(default_factory=list)  # the entry first, then what it runs
    wrapper: str | None = None  # the entry's codec when it is a self-extracting wrapper
    unreadable: list[str] = field(default_factory=list)  # wrappers that could not be decoded here

    @property
    def extra(self) -> list[CodeFile]:
        return self.files[1:]

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)


def decode_wrapper(text: str) -> tuple[str | None, str | None]:
    """(decoded source, codec) of a self-extracting ``exec(<codec>.decompress(<b85|b64>decode(...)))``
    file; (None, None) for plain source; (None, codec) when the codec is not available here."""
    if "exec(" not in text or "decompress" not in text:
        return None, None
    m = _WRAPPER.search(text)
    if not m or len(text) - len(m.group(3)) > 2000:  # a wrapper is its payload and a line or two around it
        return None, None
    blob = {"b85decode": base64.b85decode, "b64decode": base64.b64decode, "a85decode": base64.a85decode}[m.group(1)]
    try:
        raw = blob(m.group(3).encode())
    except ValueError:
        return None, None
    head = text[: m.start()]
    codec = ("brotli" if "brotli" in text else "lzma" if "lzma" in head or "lzma" in text else
             "zlib" if "zlib" in text else "bz2" if "bz2" in text else "unknown")
    try:
        if codec == "lzma":
            fmt = dict(format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}]) if "FORMAT_RAW" in text else {}
            out = lzma.LZMADecompressor(**fmt).decompress(raw)
        elif codec == "zlib":
            out = zlib.decompress(raw)
        elif codec == "bz2":
            out = bz2.decompress(raw)
        elif codec == "brotli":
            import brotli

            out = brotli.decompress(raw)
        else:
            return None, codec
    except Exception:  # noqa: BLE001 - a missing codec or a corrupt payload: say it could not be read
        return None, codec
    return out.decode("utf-8", errors="replace"), codec


def entry_point(folder: Path) -> Path | None:
    """``train_gpt.py``, else the only ``train_gpt*.py`` of the folder (a renamed entry point)."""
    main = folder / "train_gpt.py"
    if main.is_file():
        return main
    others = sorted(p for p in folder.glob("train_gpt*.py") if p.is_file())
    return others[0] if len(others) == 1 else None


def _imported(text: str) -> set[str]:
    names = set()
    for m in _IMPORT.finditer(text):
        for part in m.group(1).split(","):
            names.add(part.strip().split()[0].split(".")[0])
    names.update(m.group(1).split(".")[0] for m in _FROM.finditer(text))
    return names


def code_that_runs(folder: str | Path) -> Sources:
    folder = Path(folder)
    entry = entry_point(folder)
    if entry is None:
        return Sources(entry=None)
    candidates = {p: p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
                  if p.is_file() and p.suffix in CODE_SUFFIXES and p != entry}
    first = CodeFile(entry, entry.relative_to(folder).as_posix(), entry.stat().st_size, "entry point")
    src = Sources(entry=first, files=[first])
    queue = [first]
    while queue:
        cur = queue.pop(0)
        if cur.path.suffix != ".py":
            continue
        text = cur.path.read_text(encoding="utf-8", errors="replace")
        decoded, codec = decode_wrapper(text)
        if cur is first:
            src.wrapper = codec
        if codec and decoded is None:
            src.unreadable.append(f"{cur.rel} ({codec})")
        text = decoded if decoded is not None else text
        modules = _imported(text)
        for path, rel in list(candidates.items()):
            how = None
            if path.suffix == ".py" and path.stem in modules and path.parent in (folder, cur.path.parent):
                how = f"imported by {cur.rel}"
            elif re.search(r"[\"'/]" + re.escape(path.name) + r"[\"']", text):
                how = f"named in {cur.rel}"
            if how:
                found = CodeFile(path, rel, path.stat().st_size, how)
                src.files.append(found)
                queue.append(found)
                del candidates[path]
    return src
