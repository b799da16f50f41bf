"""General-purpose compressors the container may pick from, each at its strongest setting.

zlib and lzma are in the standard library; zstd (``zstandard``) and brotli (``brotli``) are used
when installed. Decoding a file that needs a missing one is a one-line error naming the package.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable

from pgolf.errors import PgolfError

PIP_NAME = {"zstd": "zstandard", "brotli": "brotli"}


def _zstd():
    import zstandard

    return (lambda b: zstandard.ZstdCompressor(level=22).compress(b),
            lambda b: zstandard.ZstdDecompressor().decompress(b))


def _brotli():
    import brotli

    return (lambda b: brotli.compress(b, quality=11, lgwin=24), brotli.decompress)


_LOADERS: dict[str, Callable] = {
    "zlib": lambda: (lambda b: zlib.compress(b, 9), zlib.decompress),
    "lzma": lambda: (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    "zstd": _zstd,
    "brotli": _brotli,
}


def get(name: str):
    """(compress, decompress) of codec ``name``; PgolfError if unknown or not installed."""
    if name not in _LOADERS:
        raise PgolfError(f"unknown codec {name!r}; choose from {', '.join(_LOADERS)}")
    try:
        return _LOADERS[name]()
    except ImportError:
        raise PgolfError(f"codec {name} needs the Python package {PIP_NAME[name]} (pip install {PIP_NAME[name]})") from None


def available(names: str | list[str]) -> list[str]:
    """The codecs of a comma list that are usable here (unknown names are an error)."""
    out = []
    for n in (names.split(",") if isinstance(names, str) else names):
        n = n.strip()
        if not n:
            continue
        try:
            get(n)
            out.append(n)
        except PgolfError:
            if n not in _LOADERS:
                raise
    if not out:
        raise PgolfError(f"none of the codecs {names!r} is usable")
    return out


def smallest(raw: bytes, names: list[str]) -> tuple[str, bytes]:
    """The codec (and its output) that compresses ``raw`` to the fewest bytes; ties: first listed."""
    best = None
    for n in names:
        out = get(n)[0](raw)
        if best is None or len(out) < len(best[1]):
            best = (n, out)
    return best
