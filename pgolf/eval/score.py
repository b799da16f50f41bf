"""Scoring a token stream: mean NLL per target token and bits per byte.

Non-overlapping windows of ``seq_len`` tokens cover every target of the stream exactly once (the
last window may be shorter). Windows are split over ranks in contiguous ranges and batched;
loss sums are accumulated in float64 in a fixed order, so the same model on the same device
gives the same number every time. Bytes come from the one byte rule (``pgolf.data.bytes``).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.distributed as dist

from pgolf.data.bytes import ByteTable, stream_target_bytes


def bpb(loss_nats: float, target_tokens: int, n_bytes: int) -> float:
    """Bits per byte from the mean loss in nats per target token."""
    return loss_nats / math.log(2) * target_tokens / n_bytes


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def score_stream(
    model: torch.nn.Module,
    tokens: np.ndarray,
    table: ByteTable,
    seq_len: int,
    batch_tokens: int,
    device: torch.device | str = "cpu",
    target_bytes: np.ndarray | None = None,
) -> dict:
    """Score every target of ``tokens`` with non-overlapping windows; returns loss and bpb.

    ``target_bytes``: bytes per target from :func:`pgolf.data.sidecar.target_bytes_for` (the
    split's sidecar when it has one); None = the official rule over ``table``.
    """
    device = torch.device(device)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    n_targets = len(tokens) - 1
    starts = list(range(0, n_targets, seq_len))
    lo, hi = len(starts) * rank // world, len(starts) * (rank + 1) // world
    mine = starts[lo:hi]
    per_batch = max(1, batch_tokens // world // seq_len)
    stream = torch.from_numpy(tokens.astype(np.int64))
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    i = 0
    while i < len(mine):
        # full windows go in batches; a short last window goes alone
        full = [s for s in mine[i : i + per_batch] if s + seq_len <= n_targets]
        group = full if full else mine[i : i + 1]
        length = min(seq_len, n_targets - group[0])
        x = torch.stack([stream[s : s + length] for s in group]).to(device)
        y = torch.stack([stream[s + 1 : s + 1 + length] for s in group]).to(device)
        with _autocast(device):
            loss = model(x, y, reduction="none")
        loss_sum += loss.double().sum()
        i += len(group)
    if distributed:
        dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)
    model.train(was_training)
    n_bytes = int((stream_target_bytes(tokens, table) if target_bytes is None else target_bytes).sum())
    val_loss = loss_sum.item() / n_targets
    return {
        "val_loss": val_loss,
        "val_bpb": bpb(val_loss, n_targets, n_bytes),
        "target_tokens": n_targets,
        "bytes": n_bytes,
    }
