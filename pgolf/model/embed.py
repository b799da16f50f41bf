"""Token mixing at the input: SmearGate, BigramHash and value embeddings.

Both mixers look one token back, and both stop at a BOS: the first token of a document (and the
first position of a window) sees no previous token, so nothing crosses into the next document.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def first_of_doc(ids: torch.Tensor, bos_id: int) -> torch.Tensor:
    """(B, T) bool: positions with no usable previous token (window start or a BOS)."""
    first = ids == bos_id
    first[:, 0] = True
    return first


class SmearGate(nn.Module):
    """x_t += lam * sigmoid(w . x_t[:k]) * x_{t-1}, nothing at a document start.

    ``w`` and ``lam`` start at zero, so the gate starts closed (the record's SmearGate)."""

    def __init__(self, gate_dims: int, bos_id: int):
        super().__init__()
        self.gate_dims, self.bos_id = gate_dims, bos_id
        self.weight = nn.Parameter(torch.empty(gate_dims))
        self.lam = nn.Parameter(torch.empty(1))

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        g = self.lam.to(x.dtype) * torch.sigmoid(x[..., : self.gate_dims] @ self.weight.to(x.dtype))
        g = g.masked_fill(first_of_doc(ids, self.bos_id), 0.0)
        prev = F.pad(x[:, :-1], (0, 0, 1, 0))
        return x + g[..., None] * prev


class BigramHash(nn.Module):
    """A hashed (previous, current) token-pair table, projected to the model width.

    Positions without a previous token in their document use the last row of the table.
    """

    def __init__(self, buckets: int, dim: int, model_dim: int, bos_id: int):
        super().__init__()
        self.buckets, self.bos_id = buckets, bos_id
        self.table = nn.Embedding(buckets, dim)
        self.table.weight.optim_group = "embed"
        self.proj = nn.Linear(dim, model_dim, bias=False)
        self.proj.weight.optim_group = "matrix"

    def index(self, ids: torch.Tensor) -> torch.Tensor:
        prev = F.pad(ids[:, :-1], (1, 0))
        h = torch.bitwise_xor(ids * 36313, prev * 27191) % (self.buckets - 1)
        return h.masked_fill(first_of_doc(ids, self.bos_id), self.buckets - 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.table(self.index(ids)))


class ValueEmbedding(nn.Module):
    """One (vocab, kv_dim) table whose rows are added to the values of the last layers."""

    def __init__(self, vocab_size: int, kv_dim: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, kv_dim)
        self.table.weight.optim_group = "embed"

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids)
