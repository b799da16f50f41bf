"""LQER: a rank-r correction ``A @ B`` of a tensor's quantization error ``E = W - Q(W)``.

The ``lqer_top_k`` tensors with the largest error get one, stored as ``<name>.lqer_a`` /
``.lqer_b``; dequantization adds ``A @ B`` back. Two modes (``lqer_mode``):

- ``sym``: tensors ranked by their Hessian-weighted error ``tr(E H E^T)``; the SVD is taken of
  ``E`` scaled per input column by ``sqrt(diag H)`` (so the rank goes where the layer's output
  error is), the singular values split evenly between the factors, both stored as per-row
  int-``lqer_bits`` with an absmax clip.
- ``asym``: tensors ranked by ``||E||_F``; plain SVD, ``A = U S``, ``B = V^T``. ``A`` is int2 in
  [-2, 1] with one scale for the whole matrix (``max|A| / 1.5``), ``B`` int4 in [-8, 7] with one
  scale per ``lqer_group`` consecutive values (``max|.| / 7.5``). A ``B`` whose size is not a
  multiple of the group falls back to per-row int-``lqer_bits`` factors.
"""

from __future__ import annotations

import torch

from pgolf.quant.intk import as_rows, quantize_absmax_rows
from pgolf.quant.quantize import QTensor, dequantize_tensor

SUFFIX_A, SUFFIX_B = ".lqer_a", ".lqer_b"
MODES = ("sym", "asym")
ASYM_A_BITS, ASYM_B_BITS = 2, 4


@torch.no_grad()
def lowrank_factors(err: torch.Tensor, rank: int, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``sym`` factors: SVD of the input-weighted error, singular values split as square roots."""
    err = err.float()
    s = torch.sqrt(torch.diag(h).float().clamp_min(1e-12)) if h is not None else torch.ones(err.shape[1])
    s = s.to(err.device)
    u, sv, vh = torch.linalg.svd(err * s[None, :], full_matrices=False)
    r = min(rank, sv.numel())
    root = sv[:r].sqrt()
    return u[:, :r] * root[None, :], (root[:, None] * vh[:r]) / s[None, :]


@torch.no_grad()
def plain_factors(err: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``asym`` factors: ``A = U_r S_r``, ``B = V_r^T`` of the error itself."""
    u, sv, vh = torch.linalg.svd(err.float(), full_matrices=False)
    r = min(rank, sv.numel())
    return (u[:, :r] * sv[:r]).contiguous(), vh[:r].contiguous()


def quantize_groups(f: torch.Tensor, bits: int, group: int) -> QTensor:
    """Symbols in [-2**(bits-1), 2**(bits-1) - 1], one fp16 scale per ``group`` consecutive values
    (``group = f.numel()``: one scale), scale = max|group| / (2**(bits-1) - 0.5)."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    g = f.float().reshape(-1, group)
    scale = (g.abs().amax(dim=1) / (hi + 0.5)).clamp_min(1e-8).to(torch.float16).float().clamp_min(6e-8)
    q = torch.clamp(torch.round(g / scale[:, None]), lo, hi)
    return QTensor("intk_groups", tuple(f.shape), "float32", q.reshape(f.shape).to(torch.int8).numpy(),
                   scale.to(torch.float16).numpy(), bits)


def weighted_error(err: torch.Tensor, h: torch.Tensor | None) -> float:
    if h is None:
        return float(err.float().square().sum())
    return float(torch.einsum("ij,jk,ik->", err.float(), h.float().to(err.device), err.float()))


def corrections(state: dict[str, torch.Tensor], qstate: dict[str, QTensor], hessians: dict[str, torch.Tensor],
                cfg) -> dict[str, QTensor]:
    """``<name>.lqer_a`` / ``.lqer_b`` for the ``lqer_top_k`` int-k matrices with the largest error."""
    if cfg.lqer_rank <= 0 or cfg.lqer_top_k <= 0:
        return {}
    asym = cfg.lqer_mode == "asym"
    errors = {}
    for name, q in qstate.items():
        if q.kind != "intk_rows" or name not in state or state[name].numel() <= cfg.quant_keep_float_numel:
            continue  # int8 gates are not candidates: only the int-k matrices
        err = as_rows(state[name].detach().float().cpu()) - as_rows(dequantize_tensor(q).float())
        h = None if asym or name not in hessians else hessians[name].cpu()
        errors[name] = (float(err.norm()) if asym else weighted_error(err, h), err, h)
    out = {}
    for name in sorted(sorted(errors, key=lambda n: -errors[n][0])[: cfg.lqer_top_k]):
        _, err, h = errors[name]
        if not asym:
            a, b = lowrank_factors(err, cfg.lqer_rank, h)
            qa, qb = quantize_absmax_rows(a, cfg.lqer_bits), quantize_absmax_rows(b, cfg.lqer_bits)
        else:
            a, b = plain_factors(err, cfg.lqer_rank)
            if b.numel() % cfg.lqer_group == 0:
                qa, qb = quantize_groups(a, ASYM_A_BITS, a.numel()), quantize_groups(b, ASYM_B_BITS, cfg.lqer_group)
            else:
                qa, qb = quantize_absmax_rows(a, cfg.lqer_bits), quantize_absmax_rows(b, cfg.lqer_bits)
        out[name + SUFFIX_A], out[name + SUFFIX_B] = qa, qb
    return out
