"""Scoring a token stream: mean NLL per target token and bits per byte.

Windows (``pgolf.eval.windows``) cover every target of the stream exactly once: non-overlapping
windows of ``seq_len`` (the baseline), sliding windows with ``stride < seq_len`` (each target
keeps up to ``seq_len - stride`` tokens of extra left context), optionally document-aware
(context never crosses a BOS). Windows are sorted longest first, dealt out over ranks like
cards (so every rank gets the same mix of lengths) and batched (right-padded: padding never reaches a scored position under a causal model);
loss sums are accumulated in float64 in a fixed order, so the same model on the same device
gives the same number every time. Bytes come from the one byte rule (``pgolf.data.bytes``).

The model is used through ``model.forward_logits(ids) -> (B, T, vocab)`` only; the loss is the
cross-entropy of the full-vocabulary softmax of those logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pgolf.data.bytes import ByteTable, stream_target_bytes
from pgolf.dist import all_reduce_sum, autocast, rank_world
from pgolf.eval.audit import AuditTrail, ValTokens
from pgolf.data.shards import BOS_ID
from pgolf.eval.windows import Window, batches, plan, window_flops_tokens


def bpb(loss_nats: float, target_tokens: int, n_bytes: int) -> float:
    """Bits per byte from the mean loss in nats per target token."""
    return loss_nats / math.log(2) * target_tokens / n_bytes


def window_batch(val: ValTokens, group: list[Window], device: torch.device):
    """Right-padded inputs, labels and the mask of scored labels for a group of windows."""
    T = max(w.length for w in group)
    x = torch.zeros(len(group), T, dtype=torch.int64)
    y = torch.zeros(len(group), T, dtype=torch.int64)
    mask = torch.zeros(len(group), T, dtype=torch.bool)
    for i, w in enumerate(group):
        seg = torch.from_numpy(val[w.start : w.start + w.length + 1].astype(np.int64))
        x[i, : w.length] = seg[:-1]
        y[i, : w.length] = seg[1:]
        mask[i, w.score_from : w.length] = True
    return x.to(device), y.to(device), mask.to(device)


def token_nll(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
              sample: tuple[int, int] | None = None, trail: AuditTrail | None = None,
              sample_pos: int = 0) -> torch.Tensor:
    """Per-token NLL (B, T) in float32; with ``trail`` and ``sample=(row, col)`` it records that
    position's distribution (target position ``sample_pos``) and its loss from the prefix alone.
    ``row`` must be 0 when the model carries per-row adapters."""
    with autocast(device):
        logits = model.forward_logits(x)
    logits = logits.float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none").view_as(y)
    if trail is not None and sample is not None:
        i, j = sample
        probs = torch.softmax(logits[i, j].double(), dim=-1)
        with autocast(device):  # the same position from its prefix alone: the causality sample
            alone = model.forward_logits(x[i : i + 1, : j + 1])[0, j].float()
        nll_prefix = F.cross_entropy(alone[None], y[i, j][None]).item()
        trail.sample(sample_pos, probs.sum().item(), probs[y[i, j]].item(), nll[i, j].item(), logits.size(-1),
                     nll_prefix)
    return nll


@torch.no_grad()
def score_windows(model: torch.nn.Module, val: ValTokens, windows: list[Window], batch_tokens: int,
                  device: torch.device, trail: AuditTrail | None = None, progress=None) -> torch.Tensor:
    """Sum of the scored NLLs of ``windows`` (this rank's share of them), float64 on ``device``."""
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for group in batches(windows, batch_tokens):
        x, y, mask = window_batch(val, group, device)
        w = group[0]
        nll = token_nll(model, x, y, device, (0, w.score_from), trail, w.targets[0])
        loss_sum += nll[mask].double().sum()
        if trail is not None:
            trail.score([g.targets for g in group])
        if progress is not None:
            progress.update(sum(g.n_scored for g in group))
    return loss_sum


def stream_bytes(tokens: np.ndarray, table: ByteTable, target_bytes: np.ndarray | None = None) -> int:
    """Bytes of every target: ``target_bytes`` when given (a byte sidecar, from
    :func:`pgolf.data.sidecar.target_bytes_for`), else the official rule over ``table``."""
    if target_bytes is not None:
        if len(target_bytes) != len(tokens) - 1:
            raise ValueError(f"{len(target_bytes)} target byte counts for {len(tokens) - 1} targets")
        return int(np.asarray(target_bytes).sum())
    return int(stream_target_bytes(tokens, table).sum())


def totals(loss_sum: float, tokens: np.ndarray, table: ByteTable, target_bytes: np.ndarray | None = None) -> dict:
    n_targets = len(tokens) - 1
    n_bytes = stream_bytes(tokens, table, target_bytes)
    val_loss = loss_sum / n_targets
    return {"val_loss": val_loss, "val_bpb": bpb(val_loss, n_targets, n_bytes),
            "target_tokens": n_targets, "bytes": n_bytes}


def score_stream(
    model: torch.nn.Module,
    tokens: np.ndarray,
    table: ByteTable,
    seq_len: int,
    batch_tokens: int,
    device: torch.device | str = "cpu",
    stride: int = 0,
    doc_aware: bool = False,
    trail: AuditTrail | None = None,
    progress=None,
    target_bytes: np.ndarray | None = None,
) -> dict:
    """Score every target of ``tokens`` once; ``stride`` 0 = ``seq_len`` (non-overlapping).

    ``target_bytes``: bytes per target when the split has a byte sidecar; None = the official rule.
    """
    device = torch.device(device)
    rank, world = rank_world()
    val = ValTokens(tokens, trail)
    bos = val.bos_positions(BOS_ID) if doc_aware else None
    windows = plan(len(tokens), seq_len, stride or seq_len, bos)
    was_training = model.training
    model.eval()
    try:
        mine = sorted(windows, key=lambda w: -w.length)[rank::world]  # dealt out: equal work per rank
        loss_sum = score_windows(model, val, mine, max(1, batch_tokens // world), device, trail, progress)
    finally:
        model.train(was_training)
    all_reduce_sum(loss_sum)
    res = totals(loss_sum.item(), tokens, table, target_bytes)
    res["windows"] = len(windows)
    res["inputs_read"], res["attn_pairs"] = window_flops_tokens(windows)
    return res
