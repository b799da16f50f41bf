"""Reading a PNG file's size and text metadata in tests (what wrote it, and how big it is)."""

from __future__ import annotations

import struct
import zlib


def png_info(path) -> tuple[int, int, dict[str, str]]:
    """(width, height, tEXt and iTXt metadata) of a PNG file, read chunk by chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, size, text = 8, None, {}
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            text[key.decode("latin-1")] = rest[2:].split(b"\0", 2)[2].decode("utf-8")
        pos += 12 + n
        if kind == b"IEND":
            break
    return size[0], size[1], text
