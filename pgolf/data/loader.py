"""Training batches from the train shards, the same global batch on any number of ranks.

Every loader has ``next_batch(local_tokens, seq_len, device) -> (inputs, targets)`` (targets are
the inputs shifted by one) and ``reset()``. Which one trains is ``train_loader``:

- ``stream`` (:class:`BatchLoader`, the baseline's): the train split read as one endless stream
  (shards in order, then around again). Each micro-step takes ``world * (local + 1)``
  consecutive tokens and rank r keeps the r-th span of ``local + 1``, cut into rows of
  ``seq_len``; most rows start inside a document.
- ``bos_aligned`` (:class:`DocAlignedLoader`): like ``stream``, but every row starts at a BOS:
  the loader skips forward to the next BOS before each row, so the tail of every document cut
  at a row end is never trained on.
- ``packed`` (:class:`PackedLoader`, the record's document packing): documents back to back,
  each rank's micro-batch one row of ``local`` tokens; the attention segments of that row (a new
  one at every BOS, long documents cut every ``train_seq_len`` tokens) are a function of the ids
  (``data/segments.py``). Every token of a shard from its first BOS is used once per pass,
  except the shard's last tokens that do not fill a whole step.

With ``grad_accum_total`` micro-batches per step split as ``accum = total // world`` per rank,
every world size consumes the same tokens per step.
"""

from __future__ import annotations

import bisect

import numpy as np
import torch

from pgolf.data.segments import cu_seqlens
from pgolf.data.shards import BOS_ID, read_header, read_shard, shard_files
from pgolf.errors import PgolfError

LOADERS = ("stream", "bos_aligned", "packed")
CU_BUCKET = 64  # cu_seqlens padded to a multiple of this: few distinct shapes for a compiled graph


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)


class TokenStream:
    def __init__(self, data_path: str, vocab_size: int | None = None):
        self.files = shard_files(data_path, "train")
        if not any(read_header(f) for f in self.files):
            raise PgolfError(f"{data_path}: the train shards hold no tokens")
        self.vocab_size = vocab_size
        self.reset()

    def reset(self) -> None:
        self.file_idx = 0
        self.tokens = read_shard(self.files[0], self.vocab_size)
        self.pos = 0

    def _next_file(self) -> None:
        self.file_idx = (self.file_idx + 1) % len(self.files)
        self.tokens = read_shard(self.files[self.file_idx], self.vocab_size)
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        parts, need = [], n
        while need > 0:
            avail = len(self.tokens) - self.pos
            if avail <= 0:
                self._next_file()
                continue
            k = min(avail, need)
            parts.append(self.tokens[self.pos : self.pos + k])
            self.pos += k
            need -= k
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


class BatchLoader:
    def __init__(self, data_path: str, rank: int, world: int, vocab_size: int | None = None):
        self.rank, self.world = rank, world
        self.stream = TokenStream(data_path, vocab_size)

    def reset(self) -> None:
        self.stream.reset()

    def next_batch(self, local_tokens: int, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        span = local_tokens + 1
        chunk = self.stream.take(span * self.world)
        mine = torch.from_numpy(chunk[self.rank * span : (self.rank + 1) * span].astype(np.int64))
        return _to_device(mine[:-1].view(-1, seq_len), mine[1:].view(-1, seq_len), device)


class DocAlignedLoader(BatchLoader):
    """Rows drawn in one global order, each from the next BOS on; rank r keeps the r-th block."""

    def __init__(self, data_path: str, rank: int, world: int, vocab_size: int | None = None, bos_id: int = BOS_ID):
        self.bos_id = bos_id
        self._bos, self._bos_tokens = [], None  # BOS positions of the current shard (a list: bisect is fast)
        super().__init__(data_path, rank, world, vocab_size)

    def _skip_to_bos(self) -> None:
        s = self.stream
        for _ in range(len(s.files) + 1):
            if self._bos_tokens is not s.tokens:
                self._bos, self._bos_tokens = np.flatnonzero(s.tokens == self.bos_id).tolist(), s.tokens
            i = bisect.bisect_left(self._bos, s.pos)
            if i < len(self._bos):
                s.pos = self._bos[i]
                return
            s._next_file()
        raise PgolfError(f"no BOS token ({self.bos_id}) in the train shards")

    def next_batch(self, local_tokens: int, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        n_local = local_tokens // seq_len
        seqs, s, mine_from = [], self.stream, self.rank * n_local
        for k in range(n_local * self.world):
            self._skip_to_bos()
            if mine_from <= k < mine_from + n_local or s.pos + seq_len + 1 > len(s.tokens):
                seqs.append(s.take(seq_len + 1))
            else:  # another rank's row inside this shard: only move past it
                s.pos += seq_len + 1
                seqs.append(None)
        mine = torch.from_numpy(np.stack(seqs[self.rank * n_local : (self.rank + 1) * n_local]).astype(np.int64))
        return _to_device(mine[:, :-1], mine[:, 1:], device)


class PackedLoader:
    """The record's document packing: one row of ``local`` tokens per rank and micro-step.

    Within a shard, a step is ``spans_per_step`` consecutive spans of ``local + 1`` tokens from
    a cursor that starts at the shard's first BOS; span ``m * world + rank`` is this rank's
    micro-step m (inputs its first ``local`` tokens, targets the same shifted by one). A step that
    does not fit in what is left of the shard starts at the next shard's first BOS, so the tail
    is never trained on; after the last shard the pass starts again at the first. With
    ``spans_per_step = grad_accum_total`` the spans of a step do not depend on the world size;
    on 8 ranks with one micro-step each they are the record's.
    """

    def __init__(self, data_path: str, rank: int, world: int, vocab_size: int | None = None,
                 bos_id: int = BOS_ID, spans_per_step: int | None = None):
        self.files = shard_files(data_path, "train")
        self.data_path, self.rank, self.world = data_path, rank, world
        self.vocab_size, self.bos_id = vocab_size, bos_id
        self.spans_per_step = spans_per_step or world
        if self.spans_per_step % world:
            raise PgolfError(f"spans_per_step={self.spans_per_step} is not divisible by world size {world}")
        self.reset()

    def reset(self) -> None:
        self.file_idx, self._pending, self._span = -1, [], 0
        self._open_next()

    def _open_next(self) -> None:
        self.file_idx = (self.file_idx + 1) % len(self.files)
        self.tokens = read_shard(self.files[self.file_idx], self.vocab_size)
        bos = np.flatnonzero(self.tokens == self.bos_id)
        self.cursor = int(bos[0]) if len(bos) else len(self.tokens)  # no document starts here: skip it

    def _plan_step(self, span: int) -> None:
        need = span * self.spans_per_step
        opened = 0
        while self.cursor + need > len(self.tokens):
            if opened == len(self.files):
                raise PgolfError(f"{self.data_path}: no train shard holds one step of {need:,} tokens "
                                 f"from its first BOS ({self.bos_id})")
            self._open_next()
            opened += 1
        mine = np.arange(self.rank, self.spans_per_step, self.world)
        self._pending, self._span = (self.cursor + span * mine).tolist(), span
        self.cursor += need

    def next_batch(self, local_tokens: int, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of shape (1, local_tokens); ``seq_len`` is the model's business here
        (the attention segments' cap), not the row length."""
        return self.next_packed(local_tokens, seq_len, device)[:2]

    def next_packed(self, local_tokens: int, seq_len: int,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`next_batch` plus the row's attention segments as ``cu_seqlens`` (documents cut
        every ``seq_len`` tokens, padded to a multiple of 64), built on the host before the copy
        so the training step never waits on the device for them."""
        span = local_tokens + 1
        if not self._pending or span != self._span:
            self._plan_step(span)
        start = self._pending.pop(0)
        row = torch.from_numpy(self.tokens[start : start + span].astype(np.int64))
        cu, _ = cu_seqlens(row[:-1], self.bos_id, seq_len, bucket=CU_BUCKET)
        x, y = _to_device(row[None, :-1], row[None, 1:], device)
        return x, y, cu.to(device, non_blocking=device.type == "cuda")


def train_loader(cfg, rank: int, world: int):
    """The loader ``cfg.train_loader`` names, for this rank."""
    if cfg.train_loader == "packed":
        return PackedLoader(cfg.data_path, rank, world, cfg.vocab_size, cfg.bos_id, cfg.grad_accum_total)
    if cfg.train_loader == "bos_aligned":
        return DocAlignedLoader(cfg.data_path, rank, world, cfg.vocab_size, cfg.bos_id)
    if cfg.train_loader == "stream":
        return BatchLoader(cfg.data_path, rank, world, cfg.vocab_size)
    raise PgolfError(f"config: train_loader={cfg.train_loader!r}; choose from {', '.join(LOADERS)}")
