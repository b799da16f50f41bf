"""Scoring a token stream: mean NLL per target token and bits per byte.

Windows (``pgolf.eval.windows``) cover every target of the stream exactly once: non-overlapping
windows of ``seq_len`` (the baseline), sliding windows with ``stride < seq_len`` (each target
keeps up to ``seq_len - stride`` tokens of extra left context), optionally document-aware
(context never crosses a BOS). Windows are sorted longest first, dealt out over ranks like
cards (so every rank gets the same mix of lengths) and batched (right-padded: padding never
reaches a scored position under a causal model); loss sums are accumulated in float64 in a
fixed order, so the same model on the same device gives the same number every time. Bytes come
from the one byte rule (``pgolf.data.bytes``).

Document-aware non-overlapping scoring of a model with document-isolated attention is the
record's: packed rows (``windows.packed_rows``), one forward each, ``cu_seqlens`` restarting
attention at every BOS and every ``seq_len`` tokens into a document; rows are dealt to ranks in
turn. Any other model is scored one document at a time through the windows.

The model is used through ``model.forward_logits(ids, **kw) -> (B, T, vocab)`` only (``kw``:
``cu_seqlens``/``max_seqlen`` for packed rows, ``adapters`` for TTT); the loss is the
cross-entropy of the full-vocabulary softmax of those logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pgolf.data.bytes import ByteTable, stream_target_bytes
from pgolf.data.tokenizer import BOS_ID
from pgolf.dist import all_reduce_sum, autocast, rank_world
from pgolf.eval.audit import AuditTrail, ValTokens
from pgolf.eval.windows import Window, batches, packed_rows, plan, window_flops_tokens
from pgolf.data.segments import cu_seqlens

CU_BUCKET = 64  # cu_seqlens padded to a multiple of this (fixed shapes for a compiled graph), as the record


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
              sample_pos: int = 0, forward_kw=None) -> torch.Tensor:
    """Per-token NLL (B, T) in float32; with ``trail`` and ``sample=(row, col)`` it records that
    position's distribution (target position ``sample_pos``) and its loss from the prefix alone.

    ``forward_kw(ids, row)`` gives the extra keyword arguments of ``forward_logits`` for ``ids``
    (``row``: the batch row a one-row prefix comes from, None for the whole batch)."""
    kw = forward_kw(x, None) if forward_kw else {}
    with autocast(device):
        logits = model.forward_logits(x, **kw)
    logits = logits.float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none").view_as(y)
    if trail is not None and sample is not None:
        i, j = sample
        with torch.no_grad():
            probs = torch.softmax(logits[i, j].detach().double(), dim=-1)
            prefix = x[i : i + 1, : j + 1]
            with autocast(device):  # the same position from its prefix alone: the causality sample
                alone = model.forward_logits(prefix, **(forward_kw(prefix, i) if forward_kw else {}))[0, j].float()
            nll_prefix = F.cross_entropy(alone[None], y[i, j][None]).item()
        trail.sample(sample_pos, probs.sum().item(), probs[y[i, j]].item(), nll[i, j].item(), logits.size(-1),
                     nll_prefix)
    return nll


def packed_kw(seq_len: int, bos_id: int = BOS_ID):
    """``forward_kw`` for packed rows: their ``cu_seqlens`` from the BOS positions (every
    ``seq_len`` tokens into a document a new segment), the record's layout."""
    def kw(ids: torch.Tensor, row) -> dict:
        cu, longest = cu_seqlens(ids, bos_id, seq_len, CU_BUCKET)
        return {"cu_seqlens": cu, "max_seqlen": longest}
    return kw


@torch.no_grad()
def score_packed(model: torch.nn.Module, val: ValTokens, rows: list[tuple[int, int]], seq_len: int,
                 device: torch.device, trail: AuditTrail | None = None, progress=None,
                 bos_id: int = BOS_ID) -> tuple[torch.Tensor, int]:
    """Sum of the NLLs of the targets of packed ``rows`` (this rank's share), float64 on
    ``device``, and the attended (query, key) pairs."""
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    kw, pairs = packed_kw(seq_len, bos_id), 0
    for lo, hi in rows:
        seg = torch.from_numpy(val[lo : hi + 1].astype(np.int64)).to(device)
        x, y = seg[None, :-1], seg[None, 1:]
        j = (hi - lo) // 2  # the sampled position: mid-row, where it has context to leak
        nll = token_nll(model, x, y, device, (0, j), trail, lo + 1 + j, kw)
        loss_sum += nll.double().sum()
        if trail is not None:
            trail.score([(lo + 1, hi + 1)])
        cu = kw(x, None)["cu_seqlens"].tolist()
        pairs += sum((b - a) * (b - a + 1) // 2 for a, b in zip(cu[:-1], cu[1:]))
        if progress is not None:
            progress.update(hi - lo)
    return loss_sum, pairs


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
    bos_id: int = BOS_ID,
    row_tokens: int = 0,
) -> dict:
    """Score every target of ``tokens`` once; ``stride`` 0 = ``seq_len`` (non-overlapping).

    ``target_bytes``: bytes per target when the split has a byte sidecar; None = the official rule.
    ``row_tokens``: inputs per packed row of the document-aware non-overlapping eval (0: the
    largest multiple of ``seq_len`` that fits ``batch_tokens``).
    """
    device = torch.device(device)
    rank, world = rank_world()
    val = ValTokens(tokens, trail)
    bos = val.bos_positions(bos_id) if doc_aware else None
    stride = stride or seq_len
    was_training = model.training
    model.eval()
    try:
        if doc_aware and stride == seq_len and getattr(getattr(model, "cfg", None), "doc_isolation", False):
            rows = packed_rows(len(tokens), row_tokens or max(seq_len, batch_tokens // seq_len * seq_len))
            loss_sum, pairs = score_packed(model, val, rows[rank::world], seq_len, device, trail, progress, bos_id)
            counts = torch.tensor([pairs], dtype=torch.int64, device=device)
            res_extra = {"windows": len(rows), "inputs_read": len(tokens) - 1, "packed": True,
                         "attn_pairs": int(all_reduce_sum(counts).item())}
        else:
            windows = plan(len(tokens), seq_len, stride, bos)
            mine = sorted(windows, key=lambda w: -w.length)[rank::world]  # dealt out: equal work per rank
            loss_sum = score_windows(model, val, mine, max(1, batch_tokens // world), device, trail, progress)
            inputs, pairs = window_flops_tokens(windows)
            res_extra = {"windows": len(windows), "inputs_read": inputs, "attn_pairs": pairs}
    finally:
        model.train(was_training)
    all_reduce_sum(loss_sum)
    res = totals(loss_sum.item(), tokens, table, target_bytes)
    res.update(res_extra)
    return res
