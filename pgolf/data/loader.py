"""Training batches from the train shards, the same global batch on any number of ranks.

The train split is read as one endless stream (shards in order, then around again). Each
micro-step takes ``world * (local + 1)`` consecutive tokens and rank r keeps the r-th span of
``local + 1``: inputs are its first ``local`` tokens, targets the same shifted by one. With
``grad_accum_total`` micro-batches per step split as ``accum = total // world`` per rank, every
world size consumes the same tokens in the same order per step.
"""

from __future__ import annotations

import numpy as np
import torch

from pgolf.data.shards import read_header, read_shard, shard_files
from pgolf.errors import PgolfError


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
        x = mine[:-1].view(-1, seq_len)
        y = mine[1:].view(-1, seq_len)
        non_blocking = device.type == "cuda"
        return x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking)
