"""Causal self-attention: GQA, RoPE, QK-norm with a learned per-head gain (the baseline), plus
the record's options, each off by default:

- partial RoPE: rotate only the first ``rope_dims`` dims of each head, the rest carry no position;
- XSA: remove from each head's output its component along that position's own value vector;
- output gate: per head, y_h *= sigmoid(gate_scale * W_h . x[:gate_dims]), W zero-initialised
  (every head starts at half its output: the record's sparse attention gate);
- value embeddings: a token embedding (passed in as ``ve``) added to the values;
- masks: document isolation and sliding windows come in as ``mask`` (see ``masks.py``).

``adapters`` (optional, test-time training): a callable ``adapters(kind, slot, x)`` whose output
is added to the Q, K, V projections (kinds ``q``, ``k``, ``v``) and to the output projection
(``o``); every kind reads this layer's (normed) input ``x``; ``slot`` is the virtual layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pgolf.model.masks import attend


class Rotary(nn.Module):
    """Rotary position embedding tables, cached per sequence length and device."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache: tuple[int, torch.device, torch.Tensor, torch.Tensor] | None = None

    def forward(self, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        c = self._cache
        if c is None or c[0] != seq_len or c[1] != device:
            t = torch.arange(seq_len, device=device, dtype=torch.float32)
            freqs = torch.outer(t, self.inv_freq.to(device))
            c = (seq_len, device, freqs.cos()[None, None], freqs.sin()[None, None])
            self._cache = c
        return c[2], c[3]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the two halves of the last dim of ``x`` (B, H, T, D) by the position angles."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_kv_heads: int, rope_base: float,
                 rope_dims: int = 0, xsa: bool = False, gate_dims: int = 0, gate_scale: float = 0.5,
                 value_embed: bool = False):
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = dim // num_heads
        kv_dim = num_kv_heads * self.head_dim
        self.c_q = nn.Linear(dim, dim, bias=False)
        self.c_k = nn.Linear(dim, kv_dim, bias=False)
        self.c_v = nn.Linear(dim, kv_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.q_gain = nn.Parameter(torch.empty(num_heads))
        self.rope_dims = rope_dims if 0 < rope_dims < self.head_dim else self.head_dim
        self.rotary = Rotary(self.rope_dims, rope_base)
        self.xsa = xsa
        self.gate_dims, self.gate_scale = gate_dims, gate_scale
        if gate_dims:
            self.gate = nn.Parameter(torch.empty(num_heads, gate_dims))
            self.gate.optim_group = "scalar"
        self.ve_gain = nn.Parameter(torch.empty(1)) if value_embed else None

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        r = self.rope_dims
        if r == self.head_dim:
            return apply_rotary(x, cos, sin)
        return torch.cat((apply_rotary(x[..., :r], cos, sin), x[..., r:]), dim=-1)

    def _remove_self_value(self, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """XSA: y (B, H, T, D) minus its projection on the unit value vector of its own position."""
        if v.size(1) != y.size(1):
            v = v.repeat_interleave(y.size(1) // v.size(1), dim=1)
        vn = F.normalize(v, dim=-1)
        return y - (y * vn).sum(-1, keepdim=True) * vn

    def forward(self, x: torch.Tensor, mask=None, ve: torch.Tensor | None = None, adapters=None,
                slot: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_q(x), self.c_k(x), self.c_v(x)
        if adapters is not None:
            q, k, v = q + adapters("q", slot, x), k + adapters("k", slot, x), v + adapters("v", slot, x)
        q = q.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)
        if self.ve_gain is not None and ve is not None:
            v = v + self.ve_gain.to(v.dtype) * ve.view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q = F.rms_norm(q, (self.head_dim,))
        k = F.rms_norm(k, (self.head_dim,))
        cos, sin = self.rotary(T, x.device)
        q = self._rope(q, cos, sin) * self.q_gain.to(q.dtype)[None, :, None, None]
        k = self._rope(k, cos, sin)
        y = attend(q, k, v, mask)
        if self.xsa:
            y = self._remove_self_value(y, v)
        y = y.transpose(1, 2)
        if self.gate_dims:
            g = torch.sigmoid(self.gate_scale * F.linear(x[..., : self.gate_dims], self.gate.to(x.dtype)))
            y = y * g[..., None]
        out = self.proj(y.reshape(B, T, C))
        return out if adapters is None else out + adapters("o", slot, x)
