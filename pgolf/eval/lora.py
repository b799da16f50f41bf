"""Batched LoRA adapters for test-time training: one adapter per document row of a batch, per
virtual layer, on the Q, K, V, attention-output and MLP paths, and one on the head.

The model consults them through its ``adapters(kind, slot, x)`` hook (``pgolf.model.gpt``): for
batch row b and virtual layer ``slot`` the adapter of ``kind`` adds ``(x A^T) B^T * alpha / rank``
with ``A = A[kind][slot, b]`` (rank x in) and ``B = B[kind][slot, b]`` (out x rank). The o and mlp
adapters read the same normed input as the attention and the MLP they sit beside; the head's
reads the final hidden state. ``A`` starts uniform in +-1/sqrt(in), ``B`` at zero, so a fresh
adapter changes nothing.

The initial ``A`` of every kind and slot is drawn in one call, in the order head, q (every slot),
v, k, mlp, o: the same numbers a generator in that state gives one module at a time in that order.
"""

from __future__ import annotations

import math

import torch
from torch import nn

KINDS = ("head", "q", "v", "k", "mlp", "o")  # the order the initial A's are drawn in


def out_features(model) -> dict[str, int]:
    """Output width of each adapted path of ``model``."""
    cfg = model.cfg
    kv = cfg.num_kv_heads * cfg.head_dim
    return {"head": cfg.vocab_size, "q": cfg.model_dim, "v": kv, "k": kv, "mlp": cfg.model_dim, "o": cfg.model_dim}


def draw_a(gen: torch.Generator, slots: int, rows: int, rank: int, dim: int,
           device: torch.device) -> dict[str, torch.Tensor]:
    """Initial A's {kind: (slots or 1, rows, rank, dim)}, uniform in +-1/sqrt(dim), from ``gen``."""
    bound = 1.0 / math.sqrt(dim)
    flat = torch.empty(1 + 5 * slots, rows, rank, dim, device=device).uniform_(-bound, bound, generator=gen)
    out, at = {}, 0
    for kind in KINDS:
        n = 1 if kind == "head" else slots
        out[kind] = flat[at : at + n]
        at += n
    return out


class BatchedLoRA(nn.Module):
    """Adapters over the rows of a batch: ``A`` given (and trained in place), ``B`` zero."""

    def __init__(self, a: dict[str, torch.Tensor], outs: dict[str, int], alpha: float):
        super().__init__()
        rank = a["head"].size(2)
        self.scale = alpha / rank
        self.A = nn.ParameterDict({k: nn.Parameter(t, requires_grad=True) for k, t in a.items()})
        self.B = nn.ParameterDict({k: nn.Parameter(t.new_zeros(t.size(0), t.size(1), outs[k], rank))
                                   for k, t in a.items()})

    def forward(self, kind: str, slot: int, x: torch.Tensor, first_row: int = 0) -> torch.Tensor:
        """The delta of ``kind`` at virtual layer ``slot`` for input rows that are the batch's
        rows ``first_row, first_row + 1, ...``."""
        rows = slice(first_row, first_row + x.size(0))
        a = self.A[kind][slot, rows].to(x.dtype)
        b = self.B[kind][slot, rows].to(x.dtype)
        return ((x @ a.transpose(1, 2)) @ b.transpose(1, 2)) * self.scale

    def row(self, b: int) -> "_Row":
        """The adapters of row ``b`` alone, for a one-row input (one document on its own)."""
        return _Row(self, b)


class _Row:
    def __init__(self, lora: BatchedLoRA, b: int):
        self.lora, self.b = lora, b

    def __call__(self, kind: str, slot: int, x: torch.Tensor) -> torch.Tensor:
        return self.lora(kind, slot, x, self.b)
