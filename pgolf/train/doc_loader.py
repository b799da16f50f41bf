"""Doc-aware training batches: every sequence starts at a BOS (``train_align_bos=true``).

The plain loader cuts the stream every ``seq_len`` tokens, so most sequences start inside a
document. This one skips forward to the next BOS before each sequence, so a sequence's first
document is whole from its start and document masks see only whole documents at the front.
Sequences are drawn in one global order and rank r keeps the r-th block of them, so every world
size still sees the same tokens per step (as with ``BatchLoader``).
"""

from __future__ import annotations

import bisect

import numpy as np
import torch

from pgolf.data.loader import BatchLoader
from pgolf.errors import PgolfError


class DocAlignedLoader(BatchLoader):
    def __init__(self, data_path: str, rank: int, world: int, vocab_size: int | None = None, bos_id: int = 1):
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
            else:  # another rank's sequence inside this shard: only move past it
                s.pos += seq_len + 1
                seqs.append(None)
        mine = torch.from_numpy(np.stack(seqs[self.rank * n_local : (self.rank + 1) * n_local]).astype(np.int64))
        non_blocking = device.type == "cuda"
        return mine[:, :-1].to(device, non_blocking=non_blocking), mine[:, 1:].to(device, non_blocking=non_blocking)
