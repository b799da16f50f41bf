"""Phased score-first test-time training (TTT), the way the 1.0611 record scores.

Documents are ``[BOS] + tokens`` (the next document's BOS is a document's last target). They are
sorted by length, cut into batches of ``ttt_batch_docs`` and taken longest batch first. In a
batch each document has its own LoRA adapters (``lora.py``: rank ``ttt_lora_rank``, scale
``ttt_lora_alpha / rank``, on Q, K, V, O and the MLP of every virtual layer and on the head). A
document's targets are cut into chunks of ``ttt_chunk_tokens``; chunk k of every document of the
batch is scored in one forward (context: the document's previous tokens, up to the eval window)
and its losses are added to the totals; only then does AdamW (``ttt_lora_lr``, betas
``ttt_beta1``/``ttt_beta2``, eps 1e-10, decay ``ttt_weight_decay``) take ``ttt_steps`` steps on
the mean loss of that chunk, each document's adapters on its own chunk. A document's last chunk
is scored and never trained on.

B restarts at zero for every batch and the optimizer state is new; A carries over from batch to
batch along a *chain*: batch q of the queue belongs to chain ``q % ttt_chains``, chain c runs on
rank ``c % world``, and the initial A's of every chain are drawn by every rank from one
generator seeded with ``seed``, in a fixed order. The record's A carried over the same way on
each of its 8 GPUs (``ttt_chains=8``); here the score does not depend on how many processes run
it. A batch smaller than ``ttt_batch_docs`` (the remainder) starts from A's of its own.

Global phases (``ttt_global.py``): phase k of ``ttt_phases`` runs as soon as the batches that
hold the first ``ttt_prefix_docs * k // ttt_phases`` documents of the queue are scored. Every
rank stops there; the base weights take SGD steps on that many already-scored documents (the
shortest of those scored so far, cumulative: each phase starts over from the first document),
and every chain draws new A's. The documents after the last phase see the final weights.

With one chain on one process this is the record's ``eval_val_ttt_phased`` on one process, step
for step (tests/eval/test_record_eval.py). Every event goes through the audit trail: a scoring
per chunk, an update per step (naming the tokens it used), a sync before every global phase.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pgolf.errors import PgolfError
from pgolf.eval.audit import AuditTrail, ValTokens
from pgolf.dist import all_reduce_sum, rank_world, sync
from pgolf.eval.lora import BatchedLoRA, draw_a, out_features
from pgolf.eval.score import token_nll, totals
from pgolf.eval.windows import segments

ADAM_EPS = 1e-10  # the record's TTT AdamW epsilon


@dataclass(frozen=True)
class Doc:
    start: int  # stream position of its first token
    targets: int  # its targets are positions start+1 .. start+targets
    order: int  # its place when all documents are sorted by length (shortest first, stable)


def documents(n_tokens: int, bos: np.ndarray) -> list[Doc]:
    """The stream's documents, each with its place in length order."""
    spans = segments(n_tokens, bos)
    by_len = sorted(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
    order = {i: k for k, i in enumerate(by_len)}
    return [Doc(lo, hi - lo, order[i]) for i, (lo, hi) in enumerate(spans)]


def batch_queue(docs: list[Doc], size: int) -> list[list[Doc]]:
    """Batches of ``size`` documents of similar length, the longest batch first (ties: shorter
    documents' batch first)."""
    by_len = sorted(docs, key=lambda d: d.order)
    groups = [by_len[i : i + size] for i in range(0, len(by_len), size)]
    return sorted(groups, key=lambda g: -g[-1].targets)


def phase_plan(queue: list[list[Doc]], prefix_docs: int, phases: int) -> list[tuple[int, int]]:
    """(queue position after which a global phase runs, documents it trains on), in order."""
    limit = min(sum(map(len, queue)), prefix_docs)
    if limit <= 0:
        return []
    bounds = [limit * (k + 1) // phases for k in range(phases)]
    plan, done = [], 0
    for q, batch in enumerate(queue):
        done += len(batch)
        if len(plan) < phases and done >= bounds[len(plan)]:  # at most one phase after a batch
            plan.append((q, bounds[len(plan)]))
    return plan


def check_settings(cfg, seq_len: int, world: int) -> None:
    if not 1 <= cfg.ttt_chunk_tokens <= seq_len:
        raise PgolfError(f"ttt_chunk_tokens must be in 1..seq_len={seq_len}, got {cfg.ttt_chunk_tokens} "
                         f"(pass --ttt-chunk <= {seq_len} or --seq-len >= {cfg.ttt_chunk_tokens})")
    if cfg.ttt_chains % world:
        raise PgolfError(f"ttt_chains={cfg.ttt_chains} must be a multiple of the {world} ranks "
                         f"(each rank runs whole chains)")
    if cfg.ttt_prefix_docs > 0 and cfg.ttt_global_chunk_tokens < seq_len:
        raise PgolfError(f"ttt_global_chunk_tokens={cfg.ttt_global_chunk_tokens} must hold one eval window "
                         f"of {seq_len} tokens")


class _Run:
    """One rank's TTT pass: the model, its gate to the val tokens, totals and timings."""

    def __init__(self, model, val: ValTokens, cfg, seq_len: int, device: torch.device,
                 trail: AuditTrail | None, progress):
        self.model, self.val, self.cfg, self.seq_len, self.device = model, val, cfg, seq_len, device
        self.trail, self.progress = trail, progress
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.secs = {"score": 0.0, "adapt": 0.0, "global": 0.0}
        self.counts = {"lora_steps": 0, "global_steps": 0, "inputs_scored": 0, "inputs_adapted": 0,
                       "inputs_global": 0, "pairs_scored": 0}
        self.outs = out_features(model)

    def _sync(self) -> None:
        sync(self.device)

    def _chunk_inputs(self, batch: list[Doc], ci: int):
        """Inputs, labels and scored mask of chunk ``ci`` of every document, the targets scored
        and each row's window (start, length); rows whose document has no chunk ci stay zero."""
        chunk, L = self.cfg.ttt_chunk_tokens, self.seq_len
        ctx = min((ci + 1) * chunk, L)
        x = torch.zeros(len(batch), ctx, dtype=torch.int64)
        y = torch.zeros_like(x)
        mask = torch.zeros(len(batch), ctx, dtype=torch.bool)
        targets, windows = [], []
        for b, d in enumerate(batch):
            if ci * chunk >= d.targets:
                windows.append(None)
                continue
            end = min((ci + 1) * chunk, d.targets)  # chunk targets ci*chunk+1 .. end of the document
            ws = max(0, end - L)  # the window reaches back a full eval window
            seg = torch.from_numpy(self.val[d.start + ws : d.start + end + 1].astype(np.int64))
            x[b, : end - ws], y[b, : end - ws] = seg[:-1], seg[1:]
            mask[b, ci * chunk - ws : end - ws] = True
            targets.append((d.start + ci * chunk + 1, d.start + end + 1))
            windows.append((d.start + ws, end - ws))
        return x.to(self.device), y.to(self.device), mask.to(self.device), targets, windows

    def batch(self, batch: list[Doc], a: dict[str, torch.Tensor] | None) -> None:
        """Score one batch of documents chunk by chunk, adapting after each chunk (``a``: the
        adapters' A's, trained in place; None: no adapters)."""
        cfg, chunk = self.cfg, self.cfg.ttt_chunk_tokens
        lora = BatchedLoRA(a, self.outs, cfg.ttt_lora_alpha) if a is not None else None
        opt = None
        if lora is not None:
            opt = torch.optim.AdamW(lora.parameters(), lr=cfg.ttt_lora_lr, betas=(cfg.ttt_beta1, cfg.ttt_beta2),
                                    eps=ADAM_EPS, weight_decay=cfg.ttt_weight_decay,
                                    fused=self.device.type == "cuda")
        kw = (lambda ids, row: {"adapters": lora if row is None else lora.row(row)}) if lora is not None else None
        chunks = [math.ceil(d.targets / chunk) for d in batch]
        for ci in range(max(chunks)):
            t = time.perf_counter()
            x, y, mask, targets, windows = self._chunk_inputs(batch, ci)
            learn = [ci < n - 1 for n in chunks]  # documents with chunks still to come
            train = lora is not None and any(learn)
            b0 = next(b for b, w in enumerate(windows) if w is not None)
            j0 = int(mask[b0].nonzero()[0])
            with torch.set_grad_enabled(train):
                nll = token_nll(self.model, x, y, self.device, (b0, j0), self.trail, targets[0][0], kw)
            self.loss_sum += nll.detach()[mask].double().sum()
            if self.trail is not None:
                self.trail.score(targets, note=f"ttt chunk {ci}")
            self.counts["inputs_scored"] += x.numel()
            self.counts["pairs_scored"] += x.size(0) * x.size(1) * (x.size(1) + 1) // 2
            self._sync()
            self.secs["score"] += time.perf_counter() - t
            if self.progress is not None:
                self.progress.update(sum(hi - lo for lo, hi in targets))
            if not train:
                continue
            t = time.perf_counter()
            rows = torch.tensor(learn, dtype=torch.float32, device=self.device)
            first = x.size(1) - chunk  # a full chunk ends every window of a document still learning
            used = [(w[0], w[0] + w[1] + 1) for w, go in zip(windows, learn) if go]  # what the step learns from
            for step in range(cfg.ttt_steps):
                if step:
                    nll = token_nll(self.model, x, y, self.device, forward_kw=kw)
                opt.zero_grad(set_to_none=True)
                ((nll[:, first:].mean(dim=-1) * rows).sum()).backward()
                opt.step()
                if self.trail is not None:
                    self.trail.update(reads=used, note=f"ttt lora chunk {ci}")
                self.counts["lora_steps"] += 1
                self.counts["inputs_adapted"] += x.numel()
            self._sync()
            self.secs["adapt"] += time.perf_counter() - t


def score_ttt(model: torch.nn.Module, tokens: np.ndarray, table, cfg, seq_len: int, device,
              trail: AuditTrail | None = None, progress=None, target_bytes: np.ndarray | None = None) -> dict:
    """Phased score-first TTT over the whole stream; returns the totals, counts and phase seconds.
    The model's weights are restored when it ends."""
    from pgolf.eval.ttt_global import global_phase

    device = torch.device(device)
    rank, world = rank_world()
    check_settings(cfg, seq_len, world)
    val = ValTokens(tokens, trail)
    docs = documents(len(tokens), val.bos_positions(cfg.bos_id))
    queue = batch_queue(docs, cfg.ttt_batch_docs)
    plan = phase_plan(queue, cfg.ttt_prefix_docs, cfg.ttt_phases) if cfg.ttt_global_lr > 0 else []
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    run = _Run(model, val, cfg, seq_len, device, trail, progress)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    chains, slots = cfg.ttt_chains, model.num_virtual_layers

    def draw(rows: int, keep: bool):
        if cfg.ttt_lora_rank == 0:
            return None
        a = draw_a(gen, slots, rows, cfg.ttt_lora_rank, cfg.model_dim, device)  # every rank draws every A
        return a if keep else None

    try:
        start = 0
        for end, phase_docs in plan + [(len(queue) - 1, None)]:
            segment = range(start, end + 1)
            mine = [q for q in segment if (q % chains) % world == rank]
            chain_a = {c: draw(cfg.ttt_batch_docs, c % world == rank) for c in range(chains)}
            own_a = {q: draw(len(queue[q]), q in mine) for q in segment if len(queue[q]) < cfg.ttt_batch_docs}
            for q in mine:
                run.batch(queue[q], own_a[q] if q in own_a else chain_a[q % chains])
            if phase_docs is not None:
                t = time.perf_counter()
                if trail is not None:
                    trail.sync(note=f"global phase after batch {end}")
                if world > 1:
                    dist.barrier()
                scored = sorted((d for b in queue[: end + 1] for d in b), key=lambda d: d.order)
                steps, inputs = global_phase(model, val, scored[:phase_docs], cfg, seq_len, device, trail)
                run.counts["global_steps"] += steps
                run.counts["inputs_global"] += inputs
                run._sync()
                run.secs["global"] += time.perf_counter() - t
            start = end + 1
    finally:
        model.load_state_dict(saved)
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    all_reduce_sum(run.loss_sum)
    # counts over all ranks, like the scores (each rank saw only its own documents)
    summed = all_reduce_sum(torch.tensor(list(run.counts.values()), dtype=torch.int64, device=device)).tolist()
    counts = dict(zip(run.counts, summed))
    counts["global_steps"] //= world  # every rank takes each global step
    res = totals(run.loss_sum.item(), tokens, table, target_bytes)
    res.update(documents=len(docs), batches=len(queue), phases=len(plan), phase_seconds=run.secs, **counts)
    return res


def adapter_params(model, cfg) -> int:
    """Adapter weights per document row (for the FLOP count)."""
    if cfg.ttt_lora_rank == 0:
        return 0
    outs = out_features(model)
    per = {k: cfg.ttt_lora_rank * (cfg.model_dim + o) for k, o in outs.items()}
    return per["head"] + model.num_virtual_layers * sum(v for k, v in per.items() if k != "head")

