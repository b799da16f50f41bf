"""The model file on disk: our own container, no pickles.

Layout: 8-byte magic, u32 little-endian header length, a JSON header (format version, the run's
config, the codec, and per tensor its name, kind, shape, dtype and where its bytes lie), then
the compressed payload: every tensor's symbols and scales back to back. The header records a
CRC-32 and the length of the uncompressed payload, so truncation and corruption are caught.
Same model, same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from pgolf.io import atomic_write
from pgolf.errors import PgolfError
from pgolf.quant.quantize import QTensor

MAGIC = b"PGOLF\x00\x01\x00"
FORMAT_VERSION = 1
CODECS = {"zlib9": (lambda b: zlib.compress(b, 9), zlib.decompress)}


def encode(qstate: dict[str, QTensor], config: dict[str, Any], codec: str = "zlib9") -> bytes:
    entries, blobs, offset = [], [], 0
    for name in sorted(qstate):
        q = qstate[name]
        entry = {"name": name, "kind": q.kind, "shape": list(q.shape), "dtype": q.dtype}
        for part, arr in (("data", q.data), ("scale", q.scale)):
            if arr is None:
                continue
            raw = np.ascontiguousarray(arr).tobytes()
            entry[part] = [offset, len(raw), arr.dtype.str]
            blobs.append(raw)
            offset += len(raw)
        entries.append(entry)
    payload = b"".join(blobs)
    header = {
        "format": FORMAT_VERSION,
        "codec": codec,
        "config": config,
        "tensors": entries,
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + CODECS[codec][0](payload)


def decode(blob: bytes, source: str = "artifact") -> tuple[dict[str, QTensor], dict[str, Any]]:
    """Either format: 1 (this module, the baseline's int8 + zlib) or 2 (``grouped``)."""
    from pgolf.artifact import grouped

    if blob[:8] == grouped.MAGIC:
        return grouped.decode(blob, source)
    if blob[:8] != MAGIC:
        raise PgolfError(f"{source}: not a pgolf model file (bad magic)")
    if len(blob) < 12:
        raise PgolfError(f"{source}: truncated before the header")
    (hlen,) = struct.unpack("<I", blob[8:12])
    try:
        header = json.loads(blob[12 : 12 + hlen])
    except (ValueError, UnicodeDecodeError):
        raise PgolfError(f"{source}: corrupt or truncated header") from None
    if header.get("format") != FORMAT_VERSION or header.get("codec") not in CODECS:
        raise PgolfError(f"{source}: unsupported format {header.get('format')} / codec {header.get('codec')}")
    try:
        payload = CODECS[header["codec"]][1](blob[12 + hlen :])
    except Exception:
        raise PgolfError(f"{source}: payload does not decompress (truncated or corrupt)") from None
    if len(payload) != header["payload_bytes"] or zlib.crc32(payload) != header["payload_crc32"]:
        raise PgolfError(f"{source}: payload checksum mismatch (corrupt file)")
    qstate = {}
    for e in header["tensors"]:
        parts = {}
        for part in ("data", "scale"):
            if part in e:
                off, n, dt = e[part]
                parts[part] = np.frombuffer(payload, dtype=np.dtype(dt), count=n // np.dtype(dt).itemsize, offset=off)
        data = parts["data"].reshape(e["shape"])
        qstate[e["name"]] = QTensor(e["kind"], tuple(e["shape"]), e["dtype"], data, parts.get("scale"))
    return qstate, header["config"]


def encode_for(qstate: dict[str, QTensor], config: dict[str, Any]) -> bytes:
    """Format 1 for the baseline int8_zlib scheme (or a config without one), else format 2/3."""
    if config.get("quant_scheme", "int8_zlib") == "int8_zlib":
        return encode(qstate, config)
    from pgolf.artifact import codecs, grouped

    return grouped.encode(qstate, config, config.get("artifact_codecs", codecs.DEFAULT), grouped.Layout.of(config))[0]


def write_artifact(path: str | Path, qstate: dict[str, QTensor], config: dict[str, Any]) -> int:
    blob = encode_for(qstate, config)
    atomic_write(path, blob)
    return len(blob)


def read_artifact(path: str | Path) -> tuple[dict[str, QTensor], dict[str, Any]]:
    try:
        blob = Path(path).read_bytes()
    except OSError as e:
        raise PgolfError(f"{path}: cannot read model file ({e.strerror})") from None
    return decode(blob, str(path))
