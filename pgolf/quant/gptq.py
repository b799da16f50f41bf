"""GPTQ: quantize a weight matrix column by column, feeding each column's rounding error
forward onto the columns not yet quantized, weighted by the inverse Hessian of the layer's
inputs (H = X^T X from calibration activations). Column blocks keep the updates as matrix
products; act-order quantizes the columns with the largest H diagonal first.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from pgolf.errors import PgolfError
from pgolf.quant.intk import qmax


@torch.no_grad()
def gptq_symbols(w: torch.Tensor, h: torch.Tensor, scale: torch.Tensor, bits: int, block: int = 128,
                 damp: float = 0.01, act_order: bool = True) -> torch.Tensor:
    """Symbols (float tensor of integers in [-qmax, qmax]) for ``w`` (rows, cols) given ``h``."""
    m = qmax(bits)
    w = w.float().clone()
    h = h.float().clone()
    cols = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    perm = torch.argsort(torch.diag(h), descending=True) if act_order else torch.arange(cols)
    w, h = w[:, perm], h[perm][:, perm]
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols, device=h.device)
    try:
        hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    except torch.linalg.LinAlgError:
        raise PgolfError(f"GPTQ: calibration Hessian is not positive definite (gptq_damp={damp}; "
                         "raise it, or check the model for NaNs)") from None
    s = scale[:, None].float()
    q = torch.zeros_like(w)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w1, hinv1 = w[:, i1:i2].clone(), hinv[i1:i2, i1:i2]
        err1 = torch.zeros_like(w1)
        for i in range(i2 - i1):
            col = w1[:, i : i + 1]
            qc = torch.clamp(torch.round(col / s), -m, m)
            q[:, i1 + i : i1 + i + 1] = qc
            e = (col - qc * s) / hinv1[i, i]
            w1[:, i:] -= e @ hinv1[i : i + 1, i:]
            err1[:, i : i + 1] = e
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return q[:, torch.argsort(perm)]


class HessianHooks:
    """Accumulates ``X^T X`` of the inputs of the given Linear modules during forwards."""

    def __init__(self, modules: dict[str, nn.Linear]):
        self.h: dict[str, torch.Tensor] = {}
        self.rows: dict[str, int] = {}
        self.handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in modules.items()]

    def add(self, name: str, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1, x.shape[-1]).float()
        if name not in self.h:
            self.h[name] = torch.zeros(x.shape[1], x.shape[1], device=x.device)
            self.rows[name] = 0
        with torch.autocast(x.device.type, enabled=False):  # X^T X in fp32 even inside bf16 autocast
            self.h[name] += x.T @ x
        self.rows[name] += x.shape[0]

    def _hook(self, name: str):
        return lambda _mod, args: self.add(name, args[0])

    def close(self) -> dict[str, torch.Tensor]:
        for handle in self.handles:
            handle.remove()
        return {n: h / max(self.rows[n], 1) for n, h in self.h.items()}


def linear_weights(model: nn.Module, min_numel: int) -> dict[str, nn.Linear]:
    """``"<module>.weight"`` -> Linear, for the Linears big enough to be quantized."""
    return {f"{n}.weight": m for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and m.weight.numel() > min_numel}


def head_weight(model: nn.Module, min_numel: int) -> str | None:
    """The output head's weight name (the tied embedding unless there is an ``lm_head``), if quantized."""
    lm = getattr(model, "lm_head", None)
    name, mod = ("lm_head.weight", lm) if lm is not None else ("tok_emb.weight", getattr(model, "tok_emb", None))
    w = getattr(mod, "weight", None)
    return name if w is not None and w.numel() > min_numel else None


@torch.no_grad()
def collect_hessians(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                     min_numel: int) -> dict[str, torch.Tensor]:
    """Mean input second moments of every quantized Linear over ``batches`` of (x, y).

    A model with ``hidden()`` (the final-norm output, the head's input) runs only that, and the
    head's weight (the tied embedding) gets the second moment of its output; other modules run
    ``model(x, y)``.
    """
    hooks = HessianHooks(linear_weights(model, min_numel))
    head = head_weight(model, min_numel) if hasattr(model, "hidden") else None
    was = model.training
    model.eval()
    try:
        for x, y in batches:
            if hasattr(model, "hidden"):
                out = model.hidden(x)
                if head is not None:
                    hooks.add(head, out)
            else:
                model(x, y)
    finally:
        model.train(was)
        out = hooks.close()
    return out
