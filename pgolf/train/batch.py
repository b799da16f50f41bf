"""The per-rank gradient average (how the batch splits is `config_checks.micro_batch`)."""

from __future__ import annotations

import torch

from pgolf.dist import all_reduce_mean


def average_gradients(params) -> None:
    """Average every ``.grad`` over the ranks in place: one all-reduce per gradient dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    for grads in by_dtype.values():
        flat = all_reduce_mean(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
