"""Per-row symmetric int-k (k = 2..8) with a std-based (or percentile) clip, by tensor role.

A row's clip is ``c * std(row)`` (the unbiased row std) or a high quantile of ``|row|``; its
fp16 scale is ``clip / qmax`` with ``qmax = 2**(k-1) - 1``, and its symbols are
``round(w / scale)`` in ``[-qmax, qmax]``, one per byte. Bits and clip follow the tensor's role
(``tensor_role``): the embedding (``quant_embed_bits`` / ``quant_embed_clip_sigmas``), attention
and MLP matrices (``quant_attn_clip_sigmas`` / ``quant_mlp_clip_sigmas``), the rest
(``quant_bits`` / ``quant_clip_sigmas``); a role clip of 0 falls back to ``quant_clip_sigmas``.
``quant_rules`` then overrides bits and clip by name. Attention-gate weights can instead be
stored as int8 rows with an absmax clip (``quant_gate_int8``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import torch

from pgolf.errors import PgolfError
from pgolf.quant.quantize import QTensor, _dtype_name

EMBED_PATTERNS = ("tok_emb", "lm_head")
GATE_PATTERNS = ("attn.gate", "attn_gate")  # the per-head output gate of attention
GATE_NUMEL = (32, 8192)  # gate matrices are (heads, gate dims): tiny, but worth int8 over fp16
ROLES = ("emb", "attn", "mlp", "other")


@dataclass(frozen=True)
class TensorPlan:
    bits: int
    clip_sigmas: float  # 0: use the quantile
    clip_quantile: float


def tensor_role(name: str) -> str:
    """emb | attn | mlp | other: which per-role bits and clip a weight takes."""
    if any(p in name for p in EMBED_PATTERNS):
        return "emb"
    if ".mlp." in name:
        return "mlp"
    return "attn" if ".attn." in name else "other"


def is_gate(name: str, t: torch.Tensor) -> bool:
    return (t.is_floating_point() and t.ndim == 2 and GATE_NUMEL[0] <= t.numel() <= GATE_NUMEL[1]
            and any(p in name for p in GATE_PATTERNS))


def parse_rules(rules: str) -> list[tuple[str, int, float | None]]:
    """``"tok_emb=7@15;mlp.proj=5"`` -> [(pattern, bits, clip or None)]."""
    out = []
    for item in filter(None, (r.strip() for r in rules.split(";"))):
        try:
            pat, spec = item.split("=", 1)
            bits, _, clip = spec.partition("@")
            out.append((pat.strip(), int(bits), float(clip) if clip else None))
        except ValueError:
            raise PgolfError(f"config: quant_rules item {item!r} is not pattern=bits[@clip_sigmas]") from None
        if not 2 <= out[-1][1] <= 8:
            raise PgolfError(f"config: quant_rules item {item!r}: bits must be 2..8")
    return out


def _matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) if any(c in pattern for c in "*?[") else pattern in name


def plan_for(name: str, cfg) -> TensorPlan:
    role = tensor_role(name)
    bits = cfg.quant_embed_bits if role == "emb" else cfg.quant_bits
    clip = {"emb": cfg.quant_embed_clip_sigmas, "attn": cfg.quant_attn_clip_sigmas,
            "mlp": cfg.quant_mlp_clip_sigmas}.get(role, 0.0) or cfg.quant_clip_sigmas
    for pat, b, c in parse_rules(cfg.quant_rules):
        if _matches(pat, name):
            bits, clip = b, (clip if c is None else c)
            break
    if not 2 <= bits <= 8:
        raise PgolfError(f"config: {bits} bits for {name}; choose 2..8")
    return TensorPlan(bits, clip, cfg.quant_clip_quantile)


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def row_scales(w: torch.Tensor, plan: TensorPlan) -> torch.Tensor:
    """fp16-representable per-row scales (float32 tensor) for a 2-D ``w``."""
    w = w.float()
    if plan.clip_sigmas > 0:
        clip = plan.clip_sigmas * w.std(dim=1, unbiased=w.shape[1] > 1)
    elif plan.clip_quantile >= 1.0 or w.shape[1] == 1:
        clip = w.abs().amax(dim=1)
    else:
        clip = torch.quantile(w.abs(), plan.clip_quantile, dim=1)
    scale = (clip / qmax(plan.bits)).clamp_min(1e-8)
    return scale.to(torch.float16).float().clamp_min(6e-8)


def rtn_symbols(w: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    m = qmax(bits)
    return torch.clamp(torch.round(w.float() / scale[:, None]), -m, m)


def pack_rows(shape, dtype: str, q: torch.Tensor, scale: torch.Tensor, bits: int) -> QTensor:
    return QTensor("intk_rows", tuple(shape), dtype, q.to(torch.int8).cpu().numpy(),
                   scale.to(torch.float16).cpu().numpy(), bits)


def as_rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1) if t.ndim >= 2 else t.reshape(1, -1)


def quantize_rtn(name: str, t: torch.Tensor, cfg) -> QTensor:
    """Round-to-nearest int-k of one float tensor, with the bits and clip of its role."""
    plan = plan_for(name, cfg)
    w = as_rows(t.detach().cpu().float())
    scale = row_scales(w, plan)
    return pack_rows(t.shape, _dtype_name(t), rtn_symbols(w, scale, plan.bits), scale, plan.bits)


def quantize_absmax_rows(t: torch.Tensor, bits: int) -> QTensor:
    """int-k rows clipped at each row's largest |w| (gates, LQER factors: few values, no outliers)."""
    w = as_rows(t.detach().cpu().float())
    scale = row_scales(w, TensorPlan(bits, 0.0, 1.0))
    return pack_rows(t.shape, _dtype_name(t), rtn_symbols(w, scale, bits), scale, bits)
