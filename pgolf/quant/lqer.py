"""LQER: a rank-r correction ``A @ B`` of a tensor's quantization error ``W - Q(W)``.

The error is scaled per input column by ``sqrt(diag H)`` (how much each input matters) before
its truncated SVD, so the correction spends its rank where the layer's output error is. The
factors are stored as per-row int-k (``lqer_bits``) under ``<name>.lqer_a`` / ``.lqer_b``.
"""

from __future__ import annotations

import torch

from pgolf.quant.intk import TensorPlan, pack_rows, row_scales, rtn_symbols
from pgolf.quant.quantize import QTensor

SUFFIX_A, SUFFIX_B = ".lqer_a", ".lqer_b"


@torch.no_grad()
def lowrank_factors(err: torch.Tensor, rank: int, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    err = err.float()
    s = torch.sqrt(torch.diag(h).float().clamp_min(1e-12)) if h is not None else torch.ones(err.shape[1])
    s = s.to(err.device)
    u, sv, vh = torch.linalg.svd(err * s[None, :], full_matrices=False)
    r = min(rank, sv.numel())
    root = sv[:r].sqrt()
    return u[:, :r] * root[None, :], (root[:, None] * vh[:r]) / s[None, :]


def quantize_factor(f: torch.Tensor, bits: int) -> QTensor:
    scale = row_scales(f, TensorPlan(bits, 0.0, 1.0))  # absmax clip: factors are few and exact-ish
    return pack_rows(f.shape, "float32", rtn_symbols(f, scale, bits), scale, bits)


def weighted_error(err: torch.Tensor, h: torch.Tensor | None) -> float:
    if h is None:
        return float(err.float().square().sum())
    return float(torch.einsum("ij,jk,ik->", err.float(), h.float().to(err.device), err.float()))
