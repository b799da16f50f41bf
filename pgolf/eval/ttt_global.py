"""A global TTT phase: SGD on the base weights over documents that were already scored.

The documents (each with its closing BOS, as the record cuts them) are joined into one stream
and cut into chunks of ``ttt_global_chunk_tokens``; the last chunk is never trained on. Chunk c
sets the learning rate ``ttt_global_lr * (1 + cos(pi * c / (chunks - 1))) / 2`` and, per epoch
(``ttt_global_epochs``), takes one step per ``ttt_global_batch_seqs`` whole eval windows of it:
those windows run as one packed row whose attention restarts at every BOS and every eval window
into a document (``cu_seqlens``; a model without document isolation reads them as one row per
window, the record's other layout), the loss is the row's mean, gradients are clipped to norm
``ttt_global_grad_clip``, SGD with momentum ``ttt_global_momentum`` (new for each phase) updates
every base weight.

Under torchrun each packed row is cut at BOS positions into one piece per rank (on a
document-isolated model a cut at a BOS changes nothing: attention and the SmearGate stop there
anyway; without isolation each rank takes whole windows), each rank backpropagates the loss sum
of its piece, and the summed gradients over the row's token count give every rank the gradient
of the whole row: the same step as on one process. (The record's own 8-GPU run instead gives
each rank whole windows of a chunk with attention restarting at each rank's first token, and
averages per-rank means: its global steps depend on the GPU count; ours equal its one-GPU run.)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pgolf.eval.audit import AuditTrail, ValTokens
from pgolf.dist import autocast, rank_world
from pgolf.eval.score import CU_BUCKET
from pgolf.data.segments import cu_seqlens
from pgolf.train.batch import average_gradients


def piece(ids: np.ndarray, rank: int, world: int, bos_id: int) -> tuple[int, int]:
    """This rank's share ``[lo, hi)`` of the inputs ``ids``: contiguous, cut only at a BOS, the
    cuts as close to equal shares as the BOS positions allow (a share may be empty)."""
    if world == 1:
        return 0, len(ids)
    bos = np.flatnonzero(ids == bos_id)
    bos = bos[bos > 0]
    cuts = [0]
    for k in range(1, world):
        want = k * len(ids) / world
        i = int(np.searchsorted(bos, want))
        near = [int(bos[j]) for j in (i - 1, i) if 0 <= j < len(bos)]
        c = min(near, key=lambda b: (abs(b - want), b)) if near else len(ids)
        cuts.append(max(c, cuts[-1]))
    cuts.append(len(ids))
    return cuts[rank], cuts[rank + 1]


def _my_rows(row: torch.Tensor, seq_len: int, isolated: bool, rank: int, world: int, device, bos_id: int):
    """This rank's inputs, labels and forward keywords of one SGD step's ``row`` of whole eval
    windows (+1 label): a document-isolated model reads it as one packed row (cut at BOS
    positions between ranks), any other model as one row per window (whole windows per rank)."""
    if isolated:
        lo, hi = piece(row[:-1].numpy(), rank, world, bos_id)
        x, y = row[None, lo:hi].to(device), row[None, lo + 1 : hi + 1].to(device)
        if not x.numel():
            return x, y, {}
        cu, longest = cu_seqlens(x, bos_id, seq_len, CU_BUCKET)
        return x, y, {"cu_seqlens": cu, "max_seqlen": longest}
    n = (len(row) - 1) // seq_len
    s0, s1 = n * rank // world, n * (rank + 1) // world
    x = row[s0 * seq_len : s1 * seq_len].view(-1, seq_len).to(device)
    y = row[s0 * seq_len + 1 : s1 * seq_len + 1].view(-1, seq_len).to(device)
    return x, y, {}


def global_phase(model: torch.nn.Module, val: ValTokens, docs, cfg, seq_len: int, device: torch.device,
                 trail: AuditTrail | None = None) -> tuple[int, int]:
    """Train ``model`` in place on ``docs``; returns (SGD steps, inputs this rank ran)."""
    rank, world = rank_world()
    isolated = bool(getattr(model.cfg, "doc_isolation", False))
    parts = [val[d.start : d.start + d.targets + 1] for d in docs]
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    total = len(stream) - 1
    size = cfg.ttt_global_chunk_tokens
    n_chunks = -(-total // size) if total > 0 else 0
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(True)
    sgd = torch.optim.SGD(params, lr=cfg.ttt_global_lr, momentum=cfg.ttt_global_momentum)
    steps = inputs = 0
    try:
        for c in range(n_chunks - 1):
            lo_c = c * size
            seqs = (min(lo_c + size, total) - lo_c) // seq_len
            lr = cfg.ttt_global_lr * 0.5 * (1.0 + math.cos(math.pi * c / max(n_chunks - 1, 1)))
            for group in sgd.param_groups:
                group["lr"] = lr
            for _ in range(cfg.ttt_global_epochs):
                for s in range(0, seqs, cfg.ttt_global_batch_seqs):
                    a = lo_c + s * seq_len
                    b = lo_c + min(s + cfg.ttt_global_batch_seqs, seqs) * seq_len + 1
                    row = torch.from_numpy(stream[a:b].astype(np.int64))
                    sgd.zero_grad(set_to_none=True)
                    x, y, kw = _my_rows(row, seq_len, isolated, rank, world, device, cfg.bos_id)
                    if x.numel():
                        with autocast(device):
                            loss = model(x, y, reduction="sum", **kw)
                        (loss * (world / (b - a - 1))).backward()  # averaged over ranks: the row's mean
                        inputs += x.numel()
                    if world > 1:
                        for p in params:
                            if p.grad is None:
                                p.grad = torch.zeros_like(p)
                        average_gradients(params)
                    if cfg.ttt_global_grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, cfg.ttt_global_grad_clip)
                    sgd.step()
                    if trail is not None:
                        trail.update(note=f"ttt global chunk {c}")
                    steps += 1
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None
    if trail is not None:
        trail.flush("ttt global phase")  # reads no step used (a phase too short to train)
    return steps, inputs
