"""The baseline's export quantization: per-row int8 with a high-percentile clip.

2-D float tensors become int8 rows with one fp16 scale per row (clip at the 99.99984th
percentile of |w| in the row, scale = clip / 127). Small float tensors (<= 65,536 values) pass
through: the control scalars (gains, scales, mixes, skip weights) in fp32, the rest in fp16.
Larger non-matrix float tensors get one int8 scale per tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CONTROL_PATTERNS = ("attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weights")
KEEP_FLOAT_MAX_NUMEL = 65_536
CLIP_QUANTILE = 0.9999984


@dataclass
class QTensor:
    """One stored tensor: ``kind`` is int8_rows | int8_tensor | intk_rows | intk_groups | fp16 | fp32 | raw.

    ``intk_groups``: the flattened symbols split into ``len(scale)`` equal contiguous groups, one
    scale each (one group = one scale for the whole tensor).
    """

    kind: str
    shape: tuple[int, ...]
    dtype: str  # the original torch dtype, e.g. "float32"
    data: np.ndarray  # the symbols (int8) or the passed-through values
    scale: np.ndarray | None = None  # fp16: one per row (int8_rows, intk_rows), group or tensor
    bits: int = 8  # symbol width of int kinds: symbols fit in a signed ``bits``-bit integer


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def passthrough(name: str, t: torch.Tensor, control_fp32: bool = True) -> QTensor:
    """A tensor kept as it is: raw when not float, fp32 for control tensors (unless
    ``control_fp32`` is off), fp16 otherwise."""
    shape, dtype = tuple(t.shape), _dtype_name(t)
    t = t.detach().cpu()
    if not t.is_floating_point():
        return QTensor("raw", shape, dtype, t.numpy().copy())
    if control_fp32 and any(p in name for p in CONTROL_PATTERNS):
        return QTensor("fp32", shape, dtype, t.float().numpy().astype(np.float32))
    return QTensor("fp16", shape, dtype, t.float().numpy().astype(np.float16))


def quantize_tensor(name: str, t: torch.Tensor) -> QTensor:
    t = t.detach().cpu()
    if not t.is_floating_point() or t.numel() <= KEEP_FLOAT_MAX_NUMEL:
        return passthrough(name, t)
    shape, dtype = tuple(t.shape), _dtype_name(t)
    t = t.float()
    if t.ndim == 2:
        clip = torch.quantile(t.abs(), CLIP_QUANTILE, dim=1)
        scale = (clip / 127.0).clamp_min(1.0 / 127.0).to(torch.float16)
        s = scale.float()[:, None]
        q = torch.clamp(torch.round(torch.clamp(t, -clip[:, None], clip[:, None]) / s), -127, 127)
        return QTensor("int8_rows", shape, dtype, q.to(torch.int8).numpy(), scale.numpy())
    clip = torch.quantile(t.abs().flatten(), CLIP_QUANTILE) if t.numel() <= 16_000_000 else t.abs().max()
    scale = (clip / 127.0).clamp_min(1.0 / 127.0).to(torch.float16).reshape(1)
    q = torch.clamp(torch.round(torch.clamp(t, -clip, clip) / scale.float()), -127, 127)
    return QTensor("int8_tensor", shape, dtype, q.to(torch.int8).numpy(), scale.numpy())


def dequantize_tensor(q: QTensor) -> torch.Tensor:
    dtype = getattr(torch, q.dtype)
    data = torch.from_numpy(np.array(q.data))
    if q.kind in ("int8_rows", "intk_rows", "intk_groups"):
        data = data.reshape(len(q.scale), -1)
        out = data.float() * torch.from_numpy(np.array(q.scale)).float()[:, None]
    elif q.kind == "int8_tensor":
        out = data.float() * float(q.scale[0])
    else:
        out = data
    return out.to(dtype).reshape(q.shape)


def quantize_state_dict(state: dict[str, torch.Tensor]) -> dict[str, QTensor]:
    return {name: quantize_tensor(name, t) for name, t in state.items()}


def dequantize_state_dict(qstate: dict[str, QTensor]) -> dict[str, torch.Tensor]:
    """Float tensors by name; a low-rank correction ``<name>.lqer_a @ <name>.lqer_b`` is added in."""
    out = {name: dequantize_tensor(q) for name, q in qstate.items() if not name.endswith((".lqer_a", ".lqer_b"))}
    for name in out:
        if name + ".lqer_a" in qstate:
            a, b = dequantize_tensor(qstate[name + ".lqer_a"]), dequantize_tensor(qstate[name + ".lqer_b"])
            t = out[name]
            out[name] = (t.float().reshape(t.shape[0], -1) + a @ b).reshape(t.shape).to(t.dtype)
    return out
