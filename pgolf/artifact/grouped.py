"""Container format 2: symbols grouped by tensor role, each group with its smallest codec.

Layout: 8-byte magic, u32 little-endian length of a zlib-compressed JSON header, the header,
then the compressed groups back to back. The header holds the run's config, per tensor its
name, kind, shape, dtype, bit width and where each part lies (group, offset, length, dtype,
byte-shuffled or not, and an optional row permutation), and per group its codec, raw length,
compressed length and CRC-32. Symbols are one per byte; fp16/fp32 parts are byte-shuffled
(all low bytes, then all high bytes). Same model and settings, same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from pgolf.artifact import codecs
from pgolf.errors import PgolfError
from pgolf.quant.quantize import QTensor

MAGIC = b"PGOLF\x00\x02\x00"
FORMAT_VERSION = 2
EMBED = ("tok_emb", "lm_head")


def group_of(name: str, q: QTensor, part: str) -> str:
    if part == "perm":
        return "perm"
    if part == "scale":
        return "scales"
    if q.kind in ("fp16", "fp32"):
        return "float"
    if q.kind == "raw":
        return "raw"
    role = ("lqer" if name.endswith((".lqer_a", ".lqer_b")) else "emb" if any(e in name for e in EMBED)
            else "attn" if ".attn." in name else "mlp" if ".mlp." in name else "other")
    return f"{role}.int{q.bits}"


def shuffle(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr)
    if a.dtype.itemsize == 1:
        return a.tobytes()
    return a.view(np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()


def unshuffle(raw: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    k = dtype.itemsize
    if k == 1:
        return np.frombuffer(raw, dtype=dtype, count=count)
    planes = np.frombuffer(raw, dtype=np.uint8, count=count * k).reshape(k, count)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(count)


def row_order(q: QTensor) -> np.ndarray | None:
    """Rows sorted by scale (similar rows together); None when reordering does not apply."""
    if q.kind != "intk_rows" or q.scale is None or len(q.scale) < 2:
        return None
    return np.argsort(q.scale.astype(np.float32), kind="stable").astype(np.uint32 if len(q.scale) > 65535 else np.uint16)


def layout(qstate: dict[str, QTensor], reorder: bool = False) -> tuple[list[dict], dict[str, list[bytes]]]:
    """Header entries and, per group, the raw byte chunks in order (what gets compressed)."""
    entries, groups = [], {}
    sizes: dict[str, int] = {}
    for name in sorted(qstate):
        q = qstate[name]
        entry = {"name": name, "kind": q.kind, "shape": list(q.shape), "dtype": q.dtype, "bits": q.bits}
        data, scale = q.data, q.scale
        parts = {}
        perm = row_order(q) if reorder else None
        if perm is not None:
            data = np.asarray(data).reshape(len(scale), -1)[perm]
            scale = scale[perm]
            parts["perm"] = perm
        parts["data"], parts["scale"] = data, scale
        for part, arr in parts.items():
            if arr is None:
                continue
            arr = np.ascontiguousarray(arr)
            g = group_of(name, q, part)
            raw = shuffle(arr)
            entry[part] = [g, sizes.get(g, 0), len(raw), arr.dtype.str, int(arr.size)]
            groups.setdefault(g, []).append(raw)
            sizes[g] = sizes.get(g, 0) + len(raw)
        entries.append(entry)
    return entries, groups


def encode(qstate: dict[str, QTensor], config: dict[str, Any], codec_names: str = "zlib,lzma,zstd,brotli",
           reorder: bool = False) -> tuple[bytes, list[dict]]:
    """The file's bytes and, per group, {name, codec, raw, compressed} (what each group cost)."""
    names = codecs.available(codec_names)
    entries, groups = layout(qstate, reorder)
    table, blobs = [], []
    for g in sorted(groups):
        raw = b"".join(groups[g])
        codec, comp = codecs.smallest(raw, names)
        table.append({"name": g, "codec": codec, "raw": len(raw), "compressed": len(comp), "crc32": zlib.crc32(raw)})
        blobs.append(comp)
    header = {"format": FORMAT_VERSION, "config": config, "tensors": entries, "groups": table}
    head = zlib.compress(json.dumps(header, sort_keys=True, separators=(",", ":")).encode(), 9)
    return MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs), table


def decode(blob: bytes, source: str = "artifact") -> tuple[dict[str, QTensor], dict[str, Any]]:
    if len(blob) < 12:
        raise PgolfError(f"{source}: truncated before the header")
    (hlen,) = struct.unpack("<I", blob[8:12])
    try:
        header = json.loads(zlib.decompress(blob[12 : 12 + hlen]))
    except (zlib.error, ValueError, UnicodeDecodeError):
        raise PgolfError(f"{source}: corrupt or truncated header") from None
    pos, raw_groups = 12 + hlen, {}
    for g in header["groups"]:
        comp = blob[pos : pos + g["compressed"]]
        pos += g["compressed"]
        if len(comp) != g["compressed"]:
            raise PgolfError(f"{source}: truncated in group {g['name']}")
        try:
            raw = codecs.get(g["codec"])[1](comp)
        except PgolfError:
            raise
        except Exception:
            raise PgolfError(f"{source}: group {g['name']} does not decompress (corrupt file)") from None
        if len(raw) != g["raw"] or zlib.crc32(raw) != g["crc32"]:
            raise PgolfError(f"{source}: checksum mismatch in group {g['name']} (corrupt file)")
        raw_groups[g["name"]] = raw
    if pos != len(blob):
        raise PgolfError(f"{source}: {len(blob) - pos} unexpected trailing bytes (corrupt file)")
    qstate = {}
    for e in header["tensors"]:
        parts = {}
        for part in ("data", "scale", "perm"):
            if part in e:
                g, off, n, dt, count = e[part]
                parts[part] = unshuffle(raw_groups[g][off : off + n], np.dtype(dt), count)
        data, scale = parts["data"], parts.get("scale")
        if "perm" in parts:
            inv = np.argsort(parts["perm"])
            data = data.reshape(len(scale), -1)[inv]
            scale = scale[inv]
        qstate[e["name"]] = QTensor(e["kind"], tuple(e["shape"]), e["dtype"], data.reshape(e["shape"]), scale, e["bits"])
    return qstate, header["config"]
