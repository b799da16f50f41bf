"""Writes that never leave a half-written file (or folder) under its final name.

Everything the package writes for keeps goes through here: the content is written under a
temporary name beside the final one (same folder, so the rename stays on one file system), then
renamed over it in one step. A failure, or an interrupt, leaves the old file or nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path, replace_dir: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to create (a file, or a folder); renamed to
    ``path`` when the block ends without an error, removed otherwise. An existing folder at
    ``path`` is replaced only with ``replace_dir``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if replace_dir and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
