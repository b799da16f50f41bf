"""The GPT, assembled from the config: the naive baseline, plus the record's switches.

Token embedding (tied with the output head), RMS-normed, then a U-Net of blocks: the first half
(encoder) keeps its outputs, the second half (decoder) adds them back in reverse order through
learned per-channel skip weights. Every block also mixes in the normed embedding ``x0``.
Logits are soft-capped: ``cap * tanh(logits / cap)``.

Record options (all off by default; each off value reproduces the baseline exactly):
BigramHash and SmearGate at the input (``embed.py``); value embeddings, partial RoPE, XSA, the
attention output gate and document-isolated / windowed masks (``attention.py``, ``masks.py``);
LeakyReLU^2 (``mlp.py``); depth recurrence (``layout.py``); 1/sqrt(layer+1) norm scaling;
gated U-Net skips; and parallel residual lanes: from ``parallel_from`` on the stream holds two
lanes (a leading dim of 2), attention reads lane 0 and the MLP lane 1, each lane adds both
outputs through a learned 2x2 mix, and a learned pair merges the lanes at the end.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pgolf.config import Config
from pgolf.model.attention import CausalSelfAttention
from pgolf.model.embed import BigramHash, SmearGate, ValueEmbedding
from pgolf.model.layout import check_features, layer_order
from pgolf.model.masks import build_mask
from pgolf.model.mlp import MLP


class Block(nn.Module):
    def __init__(self, cfg: Config, layer: int = 0):
        super().__init__()
        dim, L = cfg.model_dim, cfg.num_layers
        self.attn = CausalSelfAttention(
            dim, cfg.num_heads, cfg.num_kv_heads, cfg.rope_base, cfg.qk_gain_init,
            rope_dims=cfg.rope_dims, xsa=layer >= L - cfg.xsa_last_n,
            gate_dims=cfg.attn_gate_dims if cfg.attn_gate else 0,
            value_embed=layer >= L - cfg.value_embed_last_n,
        )
        self.mlp = MLP(dim, cfg.mlp_mult, cfg.mlp_act, cfg.mlp_leaky_slope)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        # resid_mix[0] scales the stream, resid_mix[1] adds the embedding x0
        self.resid_mix = nn.Parameter(torch.stack([torch.ones(dim), torch.zeros(dim)]))
        self.norm_scale = 1.0 / math.sqrt(layer + 1) if cfg.ln_scale else None
        self.parallel = 0 <= cfg.parallel_from <= layer
        if self.parallel:  # lane_mix[i, j]: how much lane i takes of output j (0 attention, 1 MLP)
            self.lane_mix = nn.Parameter(torch.ones(2, 2))
            self.lane_mix.optim_group = "scalar"

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        x = F.rms_norm(x, (x.size(-1),))
        return x if self.norm_scale is None else x * self.norm_scale

    def forward(self, x: torch.Tensor, x0: torch.Tensor, mask=None, ve=None) -> torch.Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        if not self.parallel:
            x = x + self.attn_scale.to(x.dtype) * self.attn(self.norm(x), mask, ve)
            return x + self.mlp_scale.to(x.dtype) * self.mlp(self.norm(x))
        a = self.attn_scale.to(x.dtype) * self.attn(self.norm(x[0]), mask, ve)
        m = self.mlp_scale.to(x.dtype) * self.mlp(self.norm(x[1]))
        w = self.lane_mix.to(x.dtype)
        return x + torch.stack([w[0, 0] * a + w[0, 1] * m, w[1, 0] * a + w[1, 1] * m])


class GPT(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        check_features(cfg)
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        self.num_encoder_layers = cfg.num_layers // 2
        self.num_decoder_layers = cfg.num_layers - self.num_encoder_layers
        n_skip = min(self.num_encoder_layers, self.num_decoder_layers)
        self.skip_weights = nn.Parameter(torch.ones(n_skip, cfg.model_dim))
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.model_dim, cfg.vocab_size, bias=False)
        # record options, built after the baseline's modules so its init is unchanged
        self.skip_gates = nn.Parameter(torch.zeros(n_skip, cfg.model_dim)) if cfg.unet_skip_gates else None
        self.bigram = BigramHash(cfg.bigram_buckets, cfg.bigram_dim, cfg.model_dim, cfg.bos_id) if cfg.bigram_buckets else None
        self.smear = SmearGate(cfg.smear_gate_dims, cfg.bos_id) if cfg.smear_gate else None
        kv_dim = cfg.num_kv_heads * cfg.head_dim
        self.value_embed = ValueEmbedding(cfg.vocab_size, kv_dim) if cfg.value_embed_last_n > 0 else None
        self.lane_merge = nn.Parameter(torch.full((2,), 0.5)) if cfg.parallel_from >= 0 else None
        self.loop_active = False  # the trainer switches depth recurrence on; eval mode always loops
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        std = self.cfg.tied_embed_init_std if self.cfg.tie_embeddings else 1.0
        nn.init.normal_(self.tok_emb.weight, std=std)
        for m in self.modules():
            if isinstance(m, nn.Linear) and getattr(m, "zero_init", False):
                nn.init.zeros_(m.weight)
        if self.lm_head is not None:
            nn.init.zeros_(self.lm_head.weight)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(input_ids)
        if self.bigram is not None:
            x = x + self.bigram(input_ids).to(x.dtype)
        if self.smear is not None:
            x = self.smear(x, input_ids)
        return F.rms_norm(x, (x.size(-1),))

    def _skip(self, x: torch.Tensor, d: int, skip: torch.Tensor) -> torch.Tensor:
        w = self.skip_weights[d].to(x.dtype)
        if self.skip_gates is not None:
            w = w * 2 * torch.sigmoid(self.skip_gates[d].to(x.dtype))
        return x + w * skip

    def hidden(self, input_ids: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        x = self.embed(input_ids)
        mask = build_mask(input_ids, cfg.doc_isolation, cfg.attn_window, cfg.bos_id, cfg.attn_backend)
        ve = self.value_embed(input_ids).to(x.dtype) if self.value_embed is not None else None
        looping = self.loop_active or not self.training
        x0, skips, n_enc = x, {}, self.num_encoder_layers
        for step in layer_order(cfg.num_layers, cfg.loop_start, cfg.loop_end, cfg.loop_extra, looping):
            i = step.layer
            # a decoder takes its encoder's skip once, on its first pass after that encoder's last
            # (with a loop across the middle that can be a later pass of the decoder)
            if i >= n_enc and (j := n_enc - 1 - (i - n_enc)) in skips:
                x = self._skip(x, i - n_enc, skips.pop(j))
            if step.first and i == cfg.parallel_from:
                x = torch.stack([x, x])
            x = self.blocks[i](x, x0, mask, ve)
            if step.last and i < n_enc:
                skips[i] = x
        if self.lane_merge is not None:
            w = self.lane_merge.to(x.dtype)
            x = w[0] * x[0] + w[1] * x[1]
        return F.rms_norm(x, (x.size(-1),))

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        w = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        z = F.linear(h, w.to(h.dtype))
        cap = self.cfg.logit_softcap
        return cap * torch.tanh(z / cap) if cap > 0 else z

    def forward_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Float32 logits (B, T, vocab) for token ids (B, T)."""
        return self.logits(self.hidden(input_ids)).float()

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy of ``targets`` given ``input_ids`` (both (B, T)); 'none' gives (B, T)."""
        logits = self.forward_logits(input_ids)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)
        return loss.view_as(targets) if reduction == "none" else loss
