"""General-purpose compressors the container may pick from, each at its strongest setting.

zlib and lzma are in the standard library; zstd (``zstandard``) and brotli (``brotli``) are used
when installed; lrzip is the ``lrzip`` program (Debian package ``lrzip``) with its ZPAQ back end
at level 9 (``lrzip -z -L 9``), run on stdin/stdout. Decoding a file that needs a missing one is
a one-line error naming what to install; ``requirements`` lists what a run's model file may need.
"""

from __future__ import annotations

import lzma
import shutil
import subprocess
import zlib
from collections.abc import Callable

from pgolf.errors import PgolfError

PIP_NAME = {"zstd": "zstandard", "brotli": "brotli"}
PROGRAM = {"lrzip": "lrzip"}  # codec -> the program it runs (and its Debian package)
DEFAULT = "zlib,lzma,zstd,brotli"


def _zstd():
    import zstandard

    return (lambda b: zstandard.ZstdCompressor(level=22).compress(b),
            lambda b: zstandard.ZstdDecompressor().decompress(b))


def _brotli():
    import brotli

    return (lambda b: brotli.compress(b, quality=11, lgwin=24), brotli.decompress)


def _lrzip():
    exe = shutil.which("lrzip")
    if exe is None:
        raise PgolfError("codec lrzip needs the lrzip program, which is not installed here (apt-get install -y lrzip)")

    def run(args: list[str], data: bytes) -> bytes:
        res = subprocess.run([exe, *args, "-q"], input=data, capture_output=True)
        if res.returncode != 0:
            raise ValueError(f"lrzip exited with status {res.returncode}")
        return res.stdout

    return (lambda b: run(["-z", "-L", "9"], b), lambda b: run(["-d"], b))


_LOADERS: dict[str, Callable] = {
    "zlib": lambda: (lambda b: zlib.compress(b, 9), zlib.decompress),
    "lzma": lambda: (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    "zstd": _zstd,
    "brotli": _brotli,
    "lrzip": _lrzip,
}
NAMES = tuple(_LOADERS)


def get(name: str):
    """(compress, decompress) of codec ``name``; PgolfError if unknown or not installed."""
    if name not in _LOADERS:
        raise PgolfError(f"unknown codec {name!r}; choose from {', '.join(_LOADERS)}")
    try:
        return _LOADERS[name]()
    except ImportError:
        raise PgolfError(f"codec {name} needs the Python package {PIP_NAME[name]} (pip install {PIP_NAME[name]})") from None


def split(names: str | list[str]) -> list[str]:
    return [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]


def available(names: str | list[str]) -> list[str]:
    """The codecs of a comma list that are usable here (unknown names are an error)."""
    out = []
    for n in split(names):
        try:
            get(n)
            out.append(n)
        except PgolfError:
            if n not in _LOADERS:
                raise
    if not out:
        raise PgolfError(f"none of the codecs {names!r} is usable here")
    return out


def unavailable(names: str | list[str]) -> list[str]:
    """The known codecs of a comma list that cannot run here (``available`` skips them)."""
    return [n for n in split(names) if n in _LOADERS and not _usable(n)]


def _usable(name: str) -> bool:
    try:
        get(name)
        return True
    except PgolfError:
        return False


def smallest(raw: bytes, names: list[str]) -> tuple[str, bytes]:
    """The codec (and its output) that compresses ``raw`` to the fewest bytes; ties: first listed."""
    best = None
    for n in names:
        out = get(n)[0](raw)
        if best is None or len(out) < len(best[1]):
            best = (n, out)
    return best


def requirements(config) -> list[str]:
    """What reading a run's model file may need beyond Python's standard library and torch, as
    requirements.txt lines: each pip package, then ``# system: apt-get install -y <package>`` for
    each program (pip cannot install those). ``config`` is a Config or its dict; every codec the
    config lists counts, since any of them may be the smallest for some group."""
    config = config if isinstance(config, dict) else config.to_dict()
    if config.get("quant_scheme", "int8_zlib") == "int8_zlib":
        return []  # format 1: zlib only
    names = split(config.get("artifact_codecs", DEFAULT))
    pip = sorted({PIP_NAME[n] for n in names if n in PIP_NAME})
    return pip + [f"# system: apt-get install -y {PROGRAM[n]}" for n in sorted({n for n in names if n in PROGRAM})]
