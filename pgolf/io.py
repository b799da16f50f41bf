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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to create (a file, or a folder), renamed to
    ``path`` when the block ends without an error and removed otherwise. A folder replaces only
    an absent or empty one: remove an old folder inside the block, once the new one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
