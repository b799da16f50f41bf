"""How the global batch splits over ranks and micro-steps, and the per-rank gradient average."""

from __future__ import annotations

import torch

from pgolf.config import Config
from pgolf.dist import all_reduce_mean
from pgolf.errors import PgolfError


def micro_batch(cfg: Config, world: int) -> tuple[int, int]:
    """(micro-steps per rank, tokens per rank per micro-step); errors if the batch does not split."""
    if cfg.grad_accum_total % world:
        raise PgolfError(f"grad_accum_total={cfg.grad_accum_total} is not divisible by world size {world}")
    accum = cfg.grad_accum_total // world
    local, rem = divmod(cfg.train_batch_tokens, world * accum)
    if rem or local % cfg.train_seq_len or local == 0:
        raise PgolfError(
            f"train_batch_tokens={cfg.train_batch_tokens} does not split into {world * accum} micro-batches "
            f"of whole train_seq_len={cfg.train_seq_len} sequences"
        )
    return accum, local


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
