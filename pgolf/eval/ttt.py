"""Score-first test-time training (TTT): adapt on val tokens only after they were scored.

The val stream is cut into documents (at BOS) and each document into chunks of
``ttt_chunk_tokens`` targets. Documents are processed ``ttt_batch_docs`` at a time in lockstep:
for chunk k, every document's chunk k is scored under ``no_grad`` (context: earlier tokens of the
same document, up to ``seq_len``) and its losses are added to the totals; only then does each
document's own LoRA adapter take ``ttt_steps`` Adam steps on that chunk. Adapters start from
the same state for every document (reset between documents), so a document's score does not
depend on its neighbours. Optionally, after every ``ttt_phase_docs`` documents, a global SGD
phase trains the base weights on those already-scored documents (``ttt_global_lr > 0``).
No token is scored twice; the base weights are restored when the eval ends.

Adapters wrap every ``nn.Linear`` of the model generically (batched: one adapter per document
row of the batch), so the code needs nothing from the model but ``forward_logits``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from pgolf.errors import PgolfError
from pgolf.eval.audit import AuditTrail, ValTokens
from pgolf.dist import all_reduce_sum, rank_world, sync as _sync
from pgolf.eval.score import batches, token_nll, totals, window_batch
from pgolf.data.shards import BOS_ID
from pgolf.eval.windows import Window, segment_windows, segments


class BatchedLoRA(nn.Module):
    """``base(x) + x A_b^T B_b^T`` for batch row b, with ``slots`` independent adapters."""

    def __init__(self, base: nn.Linear, rank: int, slots: int, init_a: torch.Tensor):
        super().__init__()
        self.base = base
        dev = base.weight.device
        self.A = nn.Parameter(init_a.to(dev).expand(slots, -1, -1).clone())
        self.B = nn.Parameter(torch.zeros(slots, base.out_features, rank, device=dev))
        self.register_buffer("init_a", init_a.to(dev), persistent=False)
        self.active = 0

    @torch.no_grad()
    def reset(self) -> None:
        self.A.copy_(self.init_a.expand_as(self.A))
        self.B.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.active == 0:
            return y
        n = x.size(0)  # rows 0..n-1 (a shorter batch uses the first adapters: the causality sample)
        if x.dim() != 3 or n > self.active:
            raise PgolfError(f"TTT LoRA expects (batch <= {self.active}, time, features) inputs, got {tuple(x.shape)}")
        h = torch.bmm(x, self.A[:n].transpose(1, 2).to(x.dtype))
        return y + torch.bmm(h, self.B[:n].transpose(1, 2).to(x.dtype)).to(y.dtype)


def install_lora(model: nn.Module, rank: int, slots: int, seed: int = 0) -> list[tuple[nn.Module, str, BatchedLoRA]]:
    """Wrap every nn.Linear of ``model`` in a BatchedLoRA; returns what to undo."""
    gen = torch.Generator().manual_seed(seed)
    done = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and not isinstance(parent, BatchedLoRA):
                init_a = torch.randn(rank, child.in_features, generator=gen) / math.sqrt(child.in_features)
                lora = BatchedLoRA(child, rank, slots, init_a)
                setattr(parent, name, lora)
                done.append((parent, name, lora))
    if not done:
        raise PgolfError("TTT: the model has no nn.Linear layers to adapt")
    return done


def remove_lora(installed) -> None:
    for parent, name, lora in installed:
        setattr(parent, name, lora.base)


class RowAdam:
    """Adam over the first ``n`` rows (documents) of each adapter tensor; state reset per group."""

    def __init__(self, params: list[nn.Parameter], lr: float, betas=(0.9, 0.95), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def reset(self) -> None:
        for m, v in zip(self.m, self.v):
            m.zero_()
            v.zero_()
        self.t = 0

    @torch.no_grad()
    def step(self, n: int) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad[:n]
            m[:n].mul_(b1).add_(g, alpha=1 - b1)
            v[:n].mul_(b2).addcmul_(g, g, value=1 - b2)
            p[:n].addcdiv_(m[:n] / c1, (v[:n] / c2).sqrt_().add_(self.eps), value=-self.lr)
            p.grad = None


def _row_mean_loss(nll: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over documents of each document's mean loss: every adapter sees only its own row."""
    m = mask.float()
    return ((nll * m).sum(1) / m.sum(1).clamp_min(1)).sum()


def score_ttt(model: nn.Module, tokens: np.ndarray, table, cfg, seq_len: int, device: torch.device,
              trail: AuditTrail | None = None, progress=None, target_bytes: np.ndarray | None = None) -> dict:
    """Score-first TTT over the whole stream; returns the totals and per-phase seconds."""
    device = torch.device(device)
    rank, world = rank_world()
    chunk = cfg.ttt_chunk_tokens
    if not 1 <= chunk <= seq_len:
        raise PgolfError(f"ttt_chunk_tokens must be in 1..seq_len={seq_len}, got {chunk} "
                         f"(pass --ttt-chunk <= {seq_len} or --seq-len >= {chunk})")
    if cfg.ttt_lora_rank < 0 or cfg.ttt_steps < 0 or cfg.ttt_batch_docs < 1 or cfg.ttt_lora_lr < 0 \
            or cfg.ttt_global_lr < 0:
        raise PgolfError(f"TTT settings out of range: rank {cfg.ttt_lora_rank} (>= 0), steps {cfg.ttt_steps} (>= 0), "
                         f"batch docs {cfg.ttt_batch_docs} (>= 1), lr {cfg.ttt_lora_lr} (>= 0), "
                         f"global lr {cfg.ttt_global_lr} (>= 0)")
    if cfg.ttt_global_lr > 0 and world > 1:
        raise PgolfError("TTT global SGD phases run on one process only (set ttt_global_lr=0 under torchrun)")
    val = ValTokens(tokens, trail)
    docs = [segment_windows(lo, hi, seq_len, chunk, first=chunk, segment=i)
            for i, (lo, hi) in enumerate(segments(len(tokens), val.bos_positions(BOS_ID)))]
    order = sorted(range(len(docs)), key=lambda i: (-len(docs[i]), i))
    mine = order[rank::world]
    G = max(1, cfg.ttt_batch_docs)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    use_lora = cfg.ttt_lora_rank > 0
    installed = install_lora(model, cfg.ttt_lora_rank, G, cfg.seed) if use_lora else []
    loras = [l for _, _, l in installed]
    opt = RowAdam([p for l in loras for p in (l.A, l.B)], cfg.ttt_lora_lr) if use_lora else None
    secs = {"score": 0.0, "adapt": 0.0, "global": 0.0}
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    counts = {"lora_steps": 0, "global_steps": 0, "inputs_scored": 0, "inputs_adapted": 0}
    phase_docs: list[int] = []
    try:
        for g0 in range(0, len(mine), G):
            group = [docs[i] for i in mine[g0 : g0 + G]]
            for l in loras:
                l.reset()
            if opt is not None:
                opt.reset()
            for k in range(len(group[0])):
                rows = [d[k] for d in group if k < len(d)]
                t = time.perf_counter()
                for l in loras:
                    l.active = len(rows)
                x, y, mask = window_batch(val, rows, device)
                with torch.no_grad():
                    nll = token_nll(model, x, y, device, (0, rows[0].score_from), trail, rows[0].targets[0])
                    loss_sum += nll[mask].double().sum()
                if trail is not None:
                    trail.score([w.targets for w in rows], note=f"chunk {k}")
                counts["inputs_scored"] += sum(w.length for w in rows)
                _sync(device)
                secs["score"] += time.perf_counter() - t
                if progress is not None:
                    progress.update(sum(w.n_scored for w in rows))
                learn = [d[k] for d in group if k + 1 < len(d)]  # only documents with chunks still to come
                if not use_lora or not learn:
                    continue
                t = time.perf_counter()
                for l in loras:
                    l.active = len(learn)
                for _ in range(cfg.ttt_steps):
                    x, y, mask = window_batch(val, learn, device)
                    with torch.enable_grad():
                        _row_mean_loss(token_nll(model, x, y, device), mask).backward()
                    opt.step(len(learn))
                    if trail is not None:
                        trail.update(note=f"lora chunk {k}")
                    counts["lora_steps"] += 1
                    counts["inputs_adapted"] += sum(w.length for w in learn)
                _sync(device)
                secs["adapt"] += time.perf_counter() - t
            phase_docs += mine[g0 : g0 + G]
            last = g0 + G >= len(mine)
            if cfg.ttt_global_lr > 0 and not last and len(phase_docs) >= cfg.ttt_phase_docs:
                t = time.perf_counter()
                counts["global_steps"] += _global_phase(model, val, loras, phase_docs, seq_len, cfg, device, trail)
                _sync(device)
                secs["global"] += time.perf_counter() - t
                phase_docs = []
    finally:
        remove_lora(installed)
        model.load_state_dict(saved)
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    all_reduce_sum(loss_sum)
    # counts over all ranks, like the scores (each rank saw only its own documents)
    summed = all_reduce_sum(torch.tensor(list(counts.values()), dtype=torch.int64, device=device)).tolist()
    counts = dict(zip(counts, summed))
    res = totals(loss_sum.item(), tokens, table, target_bytes)
    res.update(windows=sum(len(d) for d in docs), documents=len(docs), phase_seconds=secs, **counts)
    return res


def _global_phase(model, val: ValTokens, loras, doc_ids: list[int], seq_len: int, cfg, device, trail) -> int:
    """SGD on the base weights over already-scored documents (non-overlapping windows)."""
    spans = segments(len(val), val.bos_positions(BOS_ID))
    windows: list[Window] = []
    for i in sorted(doc_ids):
        lo, hi = spans[i]
        windows += segment_windows(lo, hi, seq_len, seq_len, segment=i)
    for l in loras:
        l.active = 0
    adapter = {id(p) for l in loras for p in (l.A, l.B)}
    params = [p for p in model.parameters() if id(p) not in adapter]
    for p in params:
        p.requires_grad_(True)
    sgd = torch.optim.SGD(params, lr=cfg.ttt_global_lr, momentum=0.9)
    if trail is not None:
        sgd = trail.wrap_optimizer(sgd, note="global phase")
    steps = 0
    for _ in range(cfg.ttt_global_epochs):
        for group in batches(windows, max(seq_len, cfg.val_batch_size)):
            x, y, mask = window_batch(val, group, device)
            sgd.zero_grad(set_to_none=True)
            with torch.enable_grad():
                nll = token_nll(model, x, y, device)
                (nll[mask].sum() / mask.sum()).backward()
            sgd.step()
            steps += 1
    for p in params:
        p.requires_grad_(False)
        p.grad = None
    return steps
