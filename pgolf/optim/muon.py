"""Muon: momentum, then orthogonalise each matrix update with a Newton-Schulz iteration.

The quintic iteration pushes the singular values of the (normalised) update towards 1, so every
direction of a weight matrix moves at about the same rate. Under torch.distributed each rank
orthogonalises a round-robin share of the matrices and one all-reduce shares the results.

Per matrix and step, with momentum m, learning rate lr and decay wd:
``buf = m * buf + g``; ``u = g + m * buf`` (Nesterov); with ``row_norm`` every row of ``u`` is
scaled to unit norm; ``u = NS(u / ||u||_F)``; ``p *= 1 - lr * wd``; ``p -= lr * s * u`` with
``s = max(1, rows / cols) ** 0.5``. Record options (off by default): Polar-Express per-step
coefficients instead of the fixed quintic (``coeffs="polar_express"``), the row normalisation
before the iteration, and the decoupled weight decay.
"""

from __future__ import annotations

import torch

from pgolf.dist import all_reduce_sum, rank_world

# Coefficients (a, b, c) of the quintic X <- aX + b(XX^T)X + c(XX^T)^2 X used by the baseline.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
# Polar Express (Amsel et al., 2025): one (a, b, c) per iteration. The list has five entries
# and at most five iterations are run with it, whatever ``steps`` asks for.
POLAR_EXPRESS = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)


def iteration_coeffs(steps: int, coeffs: str = "baseline") -> tuple[tuple[float, float, float], ...]:
    """The (a, b, c) of each Newton-Schulz iteration."""
    if coeffs == "polar_express":
        return POLAR_EXPRESS[:steps]
    return (NS_COEFFS,) * steps


def newton_schulz(g: torch.Tensor, steps: int, eps: float = 1e-7, coeffs: str = "baseline",
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Approximately orthogonalise a 2-D matrix, normalised by its Frobenius norm first.

    Runs in ``dtype`` (default: bf16 on CUDA as the baseline and the record do, fp32 elsewhere).
    """
    x = g.to(dtype or (torch.bfloat16 if g.is_cuda else torch.float32))
    x = x / (x.norm() + eps)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for a, b, c in iteration_coeffs(steps, coeffs):
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return x.T if tall else x


def row_normalize(g: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Every row of ``g`` scaled to unit L2 norm (rows with a norm below ``eps`` divided by eps)."""
    return g / g.float().norm(dim=-1, keepdim=True).clamp_min(eps).to(g.dtype)


def shape_scale(p: torch.Tensor) -> float:
    """The update scale of a (rows, cols) matrix: sqrt(rows / cols) for tall ones, else 1."""
    return max(1.0, p.size(-2) / p.size(-1)) ** 0.5


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float, backend_steps: int, nesterov: bool = True,
                 coeffs: str = "baseline", row_norm: bool = False, weight_decay: float = 0.0):
        iteration_coeffs(0, coeffs)  # a bad name is an error here, not at the first step
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps, nesterov=nesterov,
                                      coeffs=coeffs, row_norm=row_norm, weight_decay=weight_decay))

    def _update(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        """The scaled, orthogonalised update of one matrix (momentum state advanced)."""
        g = p.grad
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(g)
        buf = state["momentum_buffer"]
        buf.mul_(group["momentum"]).add_(g)
        g = g.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
        if group["row_norm"]:
            g = row_normalize(g)
        g = newton_schulz(g, group["backend_steps"], coeffs=group["coeffs"])
        return g * shape_scale(g)

    @torch.no_grad()
    def step(self, closure=None):
        rank, world = rank_world()
        for group in self.param_groups:
            params = group["params"]
            if not params:
                continue
            total = sum(p.numel() for p in params)
            # bf16 on GPU like the baseline (each slot is written by one rank, so the sum is exact)
            flat = torch.zeros(total, device=params[0].device,
                               dtype=torch.bfloat16 if params[0].is_cuda else torch.float32)
            offset = 0
            for i, p in enumerate(params):
                if i % world == rank and p.grad is not None:
                    flat[offset : offset + p.numel()] = self._update(p, group).reshape(-1).to(flat.dtype)
                offset += p.numel()
            all_reduce_sum(flat)
            offset = 0
            for p in params:
                if group["weight_decay"] > 0 and p.grad is not None:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(flat[offset : offset + p.numel()].view_as(p).to(p.dtype), alpha=-group["lr"])
                offset += p.numel()
