"""Container format 2/3: symbols grouped across tensors, each group with its smallest codec.

Layout: 8-byte magic, u32 little-endian length of a zlib-compressed JSON header, the header,
then the compressed groups back to back. The header holds the run's config, per tensor its
name, kind, shape, dtype, bit width and where each part lies (group, offset, length, dtype,
element count), whether its symbols are stored transposed, and per group its codec, raw
length, compressed length and CRC-32. Symbols are one per byte; float parts (scales,
passthrough) are byte-shuffled (all low bytes, then all high bytes), integer parts (row
permutations, raw tensors) stored as they are (format 2 shuffled them too). Same model and
settings, same bytes.

How the symbols are laid out (``Layout``, from the config's ``artifact_*`` fields):

- ``group_by``: ``role`` puts the int-k symbols of all embedding / attention / MLP / other
  matrices of one width together (``attn.int6``); ``module`` keeps one group per weight across
  layers (``attn.c_q.weight.int6`` holds every layer's ``c_q``, in layer order). LQER factors,
  scales, passthrough floats, raw tensors and row permutations have groups of their own.
- ``transpose``: int-k matrices are stored column by column (neighbouring bytes are then one
  input feature across output rows).
- ``row_order``: ``scale`` sorts a matrix's rows by scale; ``l1`` orders them as a greedy path
  of nearest rows by L1 distance between their symbols, starting at row 0 (``l1_order``). The
  permutation is stored; ``row_order_names`` limits it to names containing one of the listed
  substrings.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgolf.artifact import codecs
from pgolf.errors import PgolfError
from pgolf.quant.intk import tensor_role
from pgolf.quant.quantize import QTensor

MAGIC = b"PGOLF\x00\x02\x00"
FORMAT_VERSION = 3  # 3 added transposed symbols; 2 is read as before
GROUP_BY = ("role", "module")
ROW_ORDERS = ("none", "scale", "l1")


@dataclass(frozen=True)
class Layout:
    group_by: str = "role"
    transpose: bool = False
    row_order: str = "none"
    row_order_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: dict[str, Any]) -> "Layout":
        return cls(config.get("artifact_group_by", "role"), bool(config.get("artifact_transpose", False)),
                   config.get("artifact_row_order", "none"), tuple(codecs.split(config.get("artifact_row_order_names", ""))))

    def orders(self, name: str, q: QTensor) -> bool:
        return (self.row_order != "none" and q.kind == "intk_rows" and q.scale is not None and len(q.scale) > 1
                and (not self.row_order_names or any(p in name for p in self.row_order_names)))


def natural_key(name: str) -> list:
    """``blocks.2`` before ``blocks.10``: digit runs compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name)]


def group_of(name: str, q: QTensor, part: str, group_by: str = "role") -> str:
    if part == "perm":
        return "perm"
    if part == "scale":
        return "scales"
    if q.kind in ("fp16", "fp32"):
        return "float"
    if q.kind == "raw":
        return "raw"
    if name.endswith((".lqer_a", ".lqer_b")):
        return f"lqer.int{q.bits}"
    key = re.sub(r"^blocks\.\d+\.", "", name) if group_by == "module" else tensor_role(name)
    return f"{key}.int{q.bits}"


def shuffle(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr)
    if a.dtype.itemsize == 1 or a.dtype.kind != "f":
        return a.tobytes()
    return a.view(np.uint8).reshape(-1, a.dtype.itemsize).T.tobytes()


def unshuffle(raw: bytes, dtype: np.dtype, count: int, ints_shuffled: bool = False) -> np.ndarray:
    k = dtype.itemsize
    if k == 1 or (dtype.kind != "f" and not ints_shuffled):
        return np.frombuffer(raw, dtype=dtype, count=count)
    planes = np.frombuffer(raw, dtype=np.uint8, count=count * k).reshape(k, count)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(count)


def l1_order(rows: np.ndarray) -> np.ndarray:
    """A greedy path through the rows of a symbol matrix: row 0 first, then each time the unused
    row nearest (L1) to the last one taken, the lowest index on ties. The unused rows are kept
    packed (a taken row's slot gets the last unused row), so each step reads only those left."""
    n = rows.shape[0]
    full = np.ascontiguousarray(rows, dtype=np.int16)
    rest, idx = full.copy(), np.arange(n)
    order, last = [0], 0
    rest[0], idx[0] = full[n - 1], n - 1  # row 0 is taken
    for k in range(n - 1, 0, -1):  # k rows remain, in rest[:k]
        dist = np.abs(rest[:k] - full[last]).sum(axis=1, dtype=np.int64)
        p = int(np.argmin(dist * n + idx[:k]))  # nearest, then lowest original index
        last = int(idx[p])
        order.append(last)
        rest[p], idx[p] = rest[k - 1], idx[k - 1]
    return np.asarray(order, dtype=np.uint32 if n > 65536 else np.uint16)


def row_order(q: QTensor, mode: str) -> np.ndarray:
    rows = np.asarray(q.data).reshape(len(q.scale), -1)
    if mode == "l1":
        return l1_order(rows)
    return np.argsort(q.scale.astype(np.float32), kind="stable").astype(np.uint32 if len(q.scale) > 65535 else np.uint16)


def layout(qstate: dict[str, QTensor], opts: Layout = Layout()) -> tuple[list[dict], dict[str, list[bytes]]]:
    """Header entries and, per group, the raw byte chunks in order (what gets compressed)."""
    entries, groups = [], {}
    sizes: dict[str, int] = {}
    for name in sorted(qstate, key=natural_key):
        q = qstate[name]
        entry = {"name": name, "kind": q.kind, "shape": list(q.shape), "dtype": q.dtype, "bits": q.bits}
        data, scale = q.data, q.scale
        parts = {}
        if opts.orders(name, q):
            perm = row_order(q, opts.row_order)
            data = np.asarray(data).reshape(len(scale), -1)[perm]
            scale = scale[perm]
            parts["perm"] = perm
        if opts.transpose and q.kind == "intk_rows" and len(scale) > 1:
            data = np.asarray(data).reshape(len(scale), -1).T
            entry["transposed"] = 1
        parts["data"], parts["scale"] = data, scale
        for part, arr in parts.items():
            if arr is None:
                continue
            arr = np.ascontiguousarray(arr)
            g = group_of(name, q, part, opts.group_by)
            raw = shuffle(arr)
            entry[part] = [g, sizes.get(g, 0), len(raw), arr.dtype.str, int(arr.size)]
            groups.setdefault(g, []).append(raw)
            sizes[g] = sizes.get(g, 0) + len(raw)
        entries.append(entry)
    return entries, groups


def _parallel(fn, items: list) -> list:
    """``fn`` over ``items`` on a few threads (the codecs release the GIL), results in order."""
    if len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1, 16)) as pool:
        return list(pool.map(fn, items))


def encode(qstate: dict[str, QTensor], config: dict[str, Any], codec_names: str = codecs.DEFAULT,
           opts: Layout = Layout()) -> tuple[bytes, list[dict]]:
    """The file's bytes and, per group, {name, codec, raw, compressed} (what each group cost)."""
    return pack(*layout(qstate, opts), config, codec_names)


def pack(entries: list[dict], groups: dict[str, list[bytes]], config: dict[str, Any],
         codec_names: str = codecs.DEFAULT) -> tuple[bytes, list[dict]]:
    """``encode`` from a ``layout`` already made."""
    names = codecs.available(codec_names)
    raws = [(g, b"".join(groups[g])) for g in sorted(groups)]
    picked = _parallel(lambda item: codecs.smallest(item[1], names), raws)
    table = [{"name": g, "codec": codec, "raw": len(raw), "compressed": len(comp), "crc32": zlib.crc32(raw)}
             for (g, raw), (codec, comp) in zip(raws, picked)]
    header = {"format": FORMAT_VERSION, "config": config, "tensors": entries, "groups": table}
    head = zlib.compress(json.dumps(header, sort_keys=True, separators=(",", ":")).encode(), 9)
    return MAGIC + struct.pack("<I", len(head)) + head + b"".join(comp for _, comp in picked), table


def _decompress(source: str, g: dict, comp: bytes) -> bytes:
    try:
        decompress = codecs.get(g["codec"])[1]
    except PgolfError as e:
        raise PgolfError(f"{source}: group {g['name']}: {e}") from None
    try:
        raw = decompress(comp)
    except Exception:
        raise PgolfError(f"{source}: group {g['name']} does not decompress with {g['codec']} (corrupt file)") from None
    if len(raw) != g["raw"] or zlib.crc32(raw) != g["crc32"]:
        raise PgolfError(f"{source}: checksum mismatch in group {g['name']} (corrupt file)")
    return raw


def _tensor(e: dict, raw_groups: dict[str, bytes], version: int) -> QTensor:
    parts = {}
    for part in ("data", "scale", "perm"):
        if part in e:
            g, off, n, dt, count = e[part]
            parts[part] = unshuffle(raw_groups[g][off : off + n], np.dtype(dt), count, ints_shuffled=version == 2)
    data, scale = parts["data"], parts.get("scale")
    if e.get("transposed"):
        data = data.reshape(-1, len(scale)).T
    if "perm" in parts:
        inv = np.argsort(parts["perm"])
        data = np.asarray(data).reshape(len(scale), -1)[inv]
        scale = scale[inv]
    return QTensor(e["kind"], tuple(e["shape"]), e["dtype"], np.ascontiguousarray(data).reshape(e["shape"]), scale, e["bits"])


def decode(blob: bytes, source: str = "artifact") -> tuple[dict[str, QTensor], dict[str, Any]]:
    if len(blob) < 12:
        raise PgolfError(f"{source}: truncated before the header")
    (hlen,) = struct.unpack("<I", blob[8:12])
    try:
        header = json.loads(zlib.decompress(blob[12 : 12 + hlen]))
    except (zlib.error, ValueError, UnicodeDecodeError):
        raise PgolfError(f"{source}: corrupt or truncated header") from None
    if header.get("format") not in (2, FORMAT_VERSION):
        raise PgolfError(f"{source}: unsupported format {header.get('format')} (this pgolf reads 2 and {FORMAT_VERSION})")
    pos, chunks = 12 + hlen, []
    for g in header["groups"]:
        comp = blob[pos : pos + g["compressed"]]
        pos += g["compressed"]
        if len(comp) != g["compressed"]:
            raise PgolfError(f"{source}: truncated in group {g['name']}")
        chunks.append((g, comp))
    if pos != len(blob):
        raise PgolfError(f"{source}: {len(blob) - pos} unexpected trailing bytes (corrupt file)")
    raws = _parallel(lambda item: _decompress(source, *item), chunks)
    raw_groups = {g["name"]: raw for (g, _), raw in zip(chunks, raws)}
    try:
        qstate = {e["name"]: _tensor(e, raw_groups, header["format"]) for e in header["tensors"]}
    except (KeyError, ValueError, TypeError, IndexError):
        raise PgolfError(f"{source}: tensor table does not match its groups (corrupt file)") from None
    return qstate, header["config"]
