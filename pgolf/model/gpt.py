"""The GPT of the naive baseline, assembled from the config.

Token embedding (tied with the output head), RMS-normed, then a U-Net of blocks: the first half
(encoder) pushes its outputs on a stack, the second half (decoder) pops them back in through
learned per-channel skip weights. Every block also mixes in the normed embedding ``x0``.
Logits are soft-capped: ``cap * tanh(logits / cap)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pgolf.config import Config
from pgolf.model.attention import CausalSelfAttention
from pgolf.model.mlp import MLP


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        dim = cfg.model_dim
        self.attn = CausalSelfAttention(dim, cfg.num_heads, cfg.num_kv_heads, cfg.rope_base, cfg.qk_gain_init)
        self.mlp = MLP(dim, cfg.mlp_mult)
        self.attn_scale = nn.Parameter(torch.ones(dim))
        self.mlp_scale = nn.Parameter(torch.ones(dim))
        # resid_mix[0] scales the stream, resid_mix[1] adds the embedding x0
        self.resid_mix = nn.Parameter(torch.stack([torch.ones(dim), torch.zeros(dim)]))

    def forward(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(F.rms_norm(x, (x.size(-1),)))
        return x + self.mlp_scale.to(x.dtype) * self.mlp(F.rms_norm(x, (x.size(-1),)))


class GPT(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.num_encoder_layers = cfg.num_layers // 2
        self.num_decoder_layers = cfg.num_layers - self.num_encoder_layers
        n_skip = min(self.num_encoder_layers, self.num_decoder_layers)
        self.skip_weights = nn.Parameter(torch.ones(n_skip, cfg.model_dim))
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.model_dim, cfg.vocab_size, bias=False)
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

    def hidden(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(input_ids)
        x = F.rms_norm(x, (x.size(-1),))
        x0, skips = x, []
        for block in self.blocks[: self.num_encoder_layers]:
            x = block(x, x0)
            skips.append(x)
        for i, block in enumerate(self.blocks[self.num_encoder_layers :]):
            if skips:
                x = x + self.skip_weights[i].to(x.dtype) * skips.pop()
            x = block(x, x0)
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
