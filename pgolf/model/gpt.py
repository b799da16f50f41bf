"""The GPT, assembled from the config: the naive baseline, plus the record's switches.

Token embedding (tied with the output head), RMS-normed, then a U-Net of blocks: the first half
(encoder) keeps its outputs, the second half (decoder) adds them back in reverse order through
learned per-channel skip weights. Every block also mixes in the normed embedding ``x0``.
Logits are soft-capped: ``cap * tanh(logits / cap)``, computed in float32.

Record options (all off by default; each off value keeps the baseline's model):
BigramHash and SmearGate at the input (``embed.py``); value embeddings, partial RoPE, XSA, the
attention output gate and document-isolated / windowed masks (``attention.py``, ``masks.py``);
LeakyReLU^2 (``mlp.py``); depth recurrence, with the U-Net drawn over the virtual (looped)
layers (``layout.py``); 1/sqrt(layer+1) norm scaling; orthogonal init; skip gates, where each
skip interpolates ``lerp(w * skip, x, sigmoid(g))`` (half and half at init); and parallel
lanes: from ``parallel_from`` the decoder carries two streams, attention reads lane 0 (mixed
with ``x0``) and the MLP reads lane 1, lane k becomes ``r_k * lane_k + p[0, k] * attn +
p[1, k] * mlp`` (``r`` starts at 1.1, ``p`` at 1), skips enter lane 0 only, and the final
hidden state is the lanes' mean.

Test-time training hooks in through ``adapters`` (``hidden`` / ``forward_logits``): a callable
``adapters(kind, slot, x) -> delta`` that every virtual layer ``slot`` (0 .. num_virtual_layers-1,
in the order the blocks run) consults for its Q, K, V, output and MLP (see ``attention.py`` and
``mlp.py``), and the head once (``kind="head"``, slot 0, on the final normed hidden state; the
delta is added before the soft-cap). None (the default) is the plain model.

Depth recurrence is the ``looping`` argument of ``forward`` / ``forward_logits`` / ``hidden``,
whatever the train/eval mode: True (the default) runs the looped layer sequence, the model that
is evaluated, exported and test-time trained; False runs each layer once, as the trainer does
before ``loop_enable_frac``. With ``loop_extra=0`` both are the same model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pgolf.config import Config, validate
from pgolf.model.attention import CausalSelfAttention
from pgolf.model.embed import BigramHash, SmearGate, ValueEmbedding
from pgolf.model.init import init_weights
from pgolf.layout import halves, num_skips
from pgolf.model.masks import build_mask
from pgolf.model.mlp import MLP

class Block(nn.Module):
    def __init__(self, cfg: Config, layer: int = 0):
        super().__init__()
        dim, L = cfg.model_dim, cfg.num_layers
        self.attn = CausalSelfAttention(
            dim, cfg.num_heads, cfg.num_kv_heads, cfg.rope_base,
            rope_dims=cfg.rope_dims, xsa=layer >= L - cfg.xsa_last_n,
            gate_dims=cfg.gate_window if cfg.attn_gate else 0, gate_scale=cfg.attn_gate_scale,
            value_embed=layer >= L - cfg.value_embed_last_n,
        )
        self.mlp = MLP(dim, cfg.mlp_mult, cfg.mlp_act, cfg.mlp_leaky_slope)
        self.attn_scale = nn.Parameter(torch.empty(dim))
        self.mlp_scale = nn.Parameter(torch.empty(dim))
        # resid_mix[0] scales the stream, resid_mix[1] adds the embedding x0
        self.resid_mix = nn.Parameter(torch.empty(2, dim))
        self.norm_scale = 1.0 / math.sqrt(layer + 1) if cfg.ln_scale else None

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        x = F.rms_norm(x, (x.size(-1),))
        return x if self.norm_scale is None else x * self.norm_scale

    def _read(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        mix = self.resid_mix.to(x.dtype)
        return mix[0] * x + mix[1] * x0

    def forward(self, x: torch.Tensor, x0: torch.Tensor, mask=None, ve=None, adapters=None,
                slot: int = 0) -> torch.Tensor:
        x = self._read(x, x0)
        x = x + self.attn_scale.to(x.dtype) * self.attn(self.norm(x), mask, ve, adapters, slot)
        return x + self.mlp_scale.to(x.dtype) * self.mlp(self.norm(x), adapters, slot)

    def forward_lanes(self, a: torch.Tensor, m: torch.Tensor, x0: torch.Tensor, resid: torch.Tensor,
                      post: torch.Tensor, mask=None, ve=None, adapters=None,
                      slot: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Lanes (a, m): attention reads lane a mixed with x0, the MLP reads lane m; both lanes
        take both outputs. ``resid`` (2,) scales each lane, ``post[j, k]`` is output j's share
        in lane k (j: 0 attention, 1 MLP)."""
        att = self.attn_scale.to(a.dtype) * self.attn(self.norm(self._read(a, x0)), mask, ve, adapters, slot)
        mlp = self.mlp_scale.to(m.dtype) * self.mlp(self.norm(m), adapters, slot)
        r, p = resid.to(a.dtype), post.to(a.dtype)
        return r[0] * a + p[0, 0] * att + p[1, 0] * mlp, r[1] * m + p[0, 1] * att + p[1, 1] * mlp


class GPT(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        validate(cfg)
        self.cfg = cfg
        # PyTorch's own default inits at construction are discarded (the RNG is rewound after):
        # init_weights (init.py) draws every initial value, in its stated order
        rng = torch.get_rng_state()
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        n_skip = num_skips(cfg)
        self.skip_weights = nn.Parameter(torch.empty(n_skip, cfg.model_dim))
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.model_dim, cfg.vocab_size, bias=False)
        # record options
        self.skip_gates = nn.Parameter(torch.empty(n_skip, cfg.model_dim)) if cfg.unet_skip_gates else None
        self.bigram = BigramHash(cfg.bigram_buckets, cfg.bigram_dim, cfg.model_dim, cfg.bos_id) if cfg.bigram_buckets else None
        self.smear = SmearGate(cfg.gate_window, cfg.bos_id) if cfg.smear_gate else None
        kv_dim = cfg.num_kv_heads * cfg.head_dim
        self.value_embed = ValueEmbedding(cfg.vocab_size, kv_dim) if cfg.value_embed_last_n > 0 else None
        # lane parameters: one row per layer, as the record holds them (rows of non-lane layers unused)
        lanes = cfg.parallel_from >= 0
        self.lane_resid = nn.Parameter(torch.empty(cfg.num_layers, 2)) if lanes else None
        self.lane_post = nn.Parameter(torch.empty(cfg.num_layers, 2, 2)) if lanes else None
        # (encoder, decoder) layer sequences without and with the loop, fixed for the graph
        self._halves = {looping: halves(cfg, looping) for looping in (False, True)}
        self.num_virtual_layers = sum(map(len, self._halves[True]))  # blocks run per looped forward
        torch.set_rng_state(rng)
        init_weights(self)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(input_ids)
        if self.bigram is not None:
            x = x + self.bigram(input_ids).to(x.dtype)
        if self.smear is not None:
            x = self.smear(x, input_ids)
        return F.rms_norm(x, (x.size(-1),))

    def _skip(self, x: torch.Tensor, d: int, skip: torch.Tensor) -> torch.Tensor:
        w = self.skip_weights[d].to(x.dtype) * skip
        if self.skip_gates is None:
            return x + w
        return torch.lerp(w, x, torch.sigmoid(self.skip_gates[d].to(x.dtype)))

    def hidden(self, input_ids: torch.Tensor, cu_seqlens: torch.Tensor | None = None,
               max_seqlen: int = 0, adapters=None, looping: bool = True) -> torch.Tensor:
        cfg = self.cfg
        x = self.embed(input_ids)
        mask = build_mask(input_ids, cfg.doc_isolation, cfg.attn_window, cfg.bos_id, cfg.attn_backend,
                          cu_seqlens, max_seqlen)
        ve = self.value_embed(input_ids).to(x.dtype) if self.value_embed is not None else None
        encoder, decoder = self._halves[looping]
        x0, skips = x, []
        for slot, i in enumerate(encoder):
            x = self.blocks[i](x, x0, mask, ve, adapters, slot)
            skips.append(x)
        lanes = None
        for d, i in enumerate(decoder):
            slot = len(encoder) + d
            skip = skips.pop() if skips and d < self.skip_weights.size(0) else None
            if self.lane_post is not None and i >= cfg.parallel_from:
                a, m = (x, x) if lanes is None else lanes
                if skip is not None:
                    a = self._skip(a, d, skip)  # skips feed the attention lane only
                lanes = self.blocks[i].forward_lanes(a, m, x0, self.lane_resid[i], self.lane_post[i], mask, ve,
                                                     adapters, slot)
            else:
                if skip is not None:
                    x = self._skip(x, d, skip)
                x = self.blocks[i](x, x0, mask, ve, adapters, slot)
        if lanes is not None:
            x = 0.5 * (lanes[0] + lanes[1])
        return F.rms_norm(x, (x.size(-1),))

    def logits(self, h: torch.Tensor, adapters=None) -> torch.Tensor:
        """Float32 soft-capped logits of hidden states ``h``."""
        w = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        z = F.linear(h, w.to(h.dtype))
        if adapters is not None:
            z = z + adapters("head", 0, h)
        z = z.float()
        cap = self.cfg.logit_softcap
        return cap * torch.tanh(z / cap) if cap > 0 else z

    def forward_logits(self, input_ids: torch.Tensor, cu_seqlens: torch.Tensor | None = None,
                       max_seqlen: int = 0, adapters=None, looping: bool = True) -> torch.Tensor:
        """Float32 logits (B, T, vocab) for token ids (B, T); ``cu_seqlens`` see ``masks.py``,
        ``adapters`` and ``looping`` the module docstring."""
        return self.logits(self.hidden(input_ids, cu_seqlens, max_seqlen, adapters, looping), adapters)

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor, reduction: str = "mean",
                cu_seqlens: torch.Tensor | None = None, max_seqlen: int = 0, looping: bool = True) -> torch.Tensor:
        """Cross-entropy of ``targets`` given ``input_ids`` (both (B, T)); 'none' gives (B, T)."""
        logits = self.forward_logits(input_ids, cu_seqlens, max_seqlen, looping=looping)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)
        return loss.view_as(targets) if reduction == "none" else loss
