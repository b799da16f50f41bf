"""Split a model's parameters into the baseline's optimizer groups and build the optimizers."""

from __future__ import annotations

import torch
from torch import nn

from pgolf.config import Config
from pgolf.optim.muon import Muon


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """embed: the token embedding; head: an untied output head; matrix: 2-D block weights (Muon);
    scalar: every other parameter (gains, scales, mixes, skip weights)."""
    groups: dict[str, list[nn.Parameter]] = {"embed": [], "head": [], "matrix": [], "scalar": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("tok_emb."):
            groups["embed"].append(p)
        elif name.startswith("lm_head."):
            groups["head"].append(p)
        elif p.ndim == 2 and name.startswith("blocks."):
            groups["matrix"].append(p)
        else:
            groups["scalar"].append(p)
    return groups


def build_optimizers(model: nn.Module, cfg: Config) -> list[torch.optim.Optimizer]:
    """Adam (embedding, head, scalars) and Muon (matrices); each group remembers its base LR."""
    g = param_groups(model)
    adam = dict(betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, fused=False)
    embed_lr = cfg.tied_embed_lr if cfg.tie_embeddings else cfg.embed_lr
    opts: list[torch.optim.Optimizer] = [torch.optim.Adam([{"params": g["embed"], "lr": embed_lr}], **adam)]
    if g["head"]:
        opts.append(torch.optim.Adam([{"params": g["head"], "lr": cfg.head_lr}], **adam))
    opts.append(Muon(g["matrix"], lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps))
    opts.append(torch.optim.Adam([{"params": g["scalar"], "lr": cfg.scalar_lr}], **adam))
    for opt in opts:
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]
    return opts
