"""GPTQ calibration inside the training budget, on training data only.

With ``quant_scheme=gptq`` and a wall-clock cap, training stops ``gptq_reserve_seconds`` early
(the warm-down follows the shorter clock), and calibration then runs on the next
``gptq_calib_batches`` micro-batches of the *training* loader. Nothing here can reach the val
split: the only data source is the loader it is handed.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist

from pgolf.errors import PgolfError
from pgolf.quant.gptq import collect_hessians


def train_budget_ms(cfg) -> float:
    """The training clock's cap in ms (0 = none): the wall-clock cap less the GPTQ reserve."""
    cap = cfg.max_wallclock_seconds * 1000
    if cap > 0 and cfg.quant_scheme == "gptq":
        if cfg.gptq_reserve_seconds >= cfg.max_wallclock_seconds:
            raise PgolfError(f"config: gptq_reserve_seconds={cfg.gptq_reserve_seconds} leaves no training time "
                             f"under max_wallclock_seconds={cfg.max_wallclock_seconds}")
        cap -= cfg.gptq_reserve_seconds * 1000
    return cap


def calibrate(model: torch.nn.Module, loader, cfg, device: torch.device, local_tokens: int,
              autocast=None) -> dict[str, torch.Tensor] | None:
    """Hessians of the quantized Linears from training micro-batches (None unless gptq)."""
    if cfg.quant_scheme != "gptq" or cfg.gptq_calib_batches <= 0:
        return None
    batches = (loader.next_batch(local_tokens, cfg.train_seq_len, device) for _ in range(cfg.gptq_calib_batches))
    with autocast or contextlib.nullcontext():
        hs = collect_hessians(model, batches, cfg.quant_keep_float_numel)
    if dist.is_available() and dist.is_initialized():
        for h in hs.values():
            dist.all_reduce(h, op=dist.ReduceOp.SUM)
            h /= dist.get_world_size()
    return hs
