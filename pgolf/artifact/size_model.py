"""The size model: predict the model file's bytes from the order-0 entropy of its symbols.

Each part of each tensor (symbols, byte-shuffled fp16 planes, scales, permutations) is costed
at its order-0 entropy (a byte plane at a time for multi-byte values); a group's prediction is
the sum of its parts'. Then the file is really encoded and the two are reported side by side,
with the code bytes of the packed ``train_gpt.py``, the headroom under the cap, and how many
more weights the headroom buys at the measured bits per weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgolf.artifact import codecs, grouped
from pgolf.artifact.size import CAP_BYTES
from pgolf.quant.quantize import QTensor


def entropy_bytes(raw: bytes | np.ndarray) -> float:
    """Order-0 entropy of a byte string, in bytes."""
    a = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, (bytes, bytearray)) else raw
    if a.size == 0:
        return 0.0
    counts = np.bincount(a, minlength=256).astype(np.float64)
    p = counts[counts > 0] / a.size
    return float(-(counts[counts > 0] * np.log2(p)).sum() / 8)


def predict_groups(entries: list[dict], groups: dict[str, list[bytes]]) -> dict[str, float]:
    raw = {g: np.frombuffer(b"".join(chunks), dtype=np.uint8) for g, chunks in groups.items()}
    out = dict.fromkeys(groups, 0.0)
    for e in entries:
        for part in ("data", "scale", "perm"):
            if part not in e:
                continue
            g, off, n, dt, count = e[part]
            k = np.dtype(dt).itemsize
            chunk = raw[g][off : off + n]
            planes = (chunk.reshape(k, count) if np.dtype(dt).kind == "f" else chunk.reshape(count, k).T) if k > 1 else [chunk]
            out[g] += sum(entropy_bytes(np.ascontiguousarray(p)) for p in planes)
    return out


def size_breakdown(qstate: dict[str, QTensor], config: dict[str, Any], code_bytes: int | None = None) -> dict:
    """Predicted and real bytes per group and in total, headroom and what it buys."""
    from pgolf.artifact.container import encode_for

    opts = grouped.Layout.of(config)
    entries, groups = grouped.layout(qstate, opts)
    predicted = predict_groups(entries, groups)
    blob, table = grouped.pack(entries, groups, config, config.get("artifact_codecs", codecs.DEFAULT))
    header = len(blob) - sum(g["compressed"] for g in table)
    scheme = config.get("quant_scheme", "int8_zlib")
    real = len(encode_for(qstate, config)) if scheme == "int8_zlib" else len(blob)
    int_kinds = ("intk_rows", "int8_rows", "int8_tensor")
    weights = sum(int(np.asarray(q.data).size) for q in qstate.values() if q.kind in int_kinds)
    sym_bytes = sum(g["compressed"] for g in table if ".int" in g["name"])
    bpw = 8 * sym_bytes / weights if weights else 0.0
    rows = [{"group": g["name"], "codec": g["codec"], "raw": g["raw"], "predicted": round(predicted[g["name"]]),
             "compressed": g["compressed"], "over_entropy": g["compressed"] / max(predicted[g["name"]], 1) - 1}
            for g in table]
    out = {
        "scheme": scheme,
        "groups": rows,
        "header_bytes": header,
        "predicted_bytes": round(sum(predicted.values()) + header),
        "grouped_bytes": len(blob),
        "bytes_model": real,
        "quantized_weights": weights,
        "bits_per_weight": bpw,
        "entropy_bits_per_weight": 8 * sum(predicted[g["name"]] for g in table if ".int" in g["name"]) / max(weights, 1),
    }
    out["prediction_error"] = out["predicted_bytes"] / real - 1
    if code_bytes is not None:
        total = real + code_bytes
        out.update(bytes_code=code_bytes, bytes_total=total, headroom=CAP_BYTES - total,
                   extra_params=int(max(CAP_BYTES - total, 0) * 8 / bpw) if bpw else 0)
    return out
