"""Split a model's parameters into the baseline's optimizer groups and build the optimizers."""

from __future__ import annotations

import torch
from torch import nn

from pgolf.config import Config
from pgolf.optim.muon import Muon


# 2-D block tensors that are per-channel controls, not matrices: the baseline gives them to Adam.
CONTROL_NAMES = ("resid_mix", "attn_scale", "mlp_scale", "q_gain", "skip_weight")


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """embed: the token embedding; head: an untied output head; matrix: 2-D block weights (Muon);
    scalar: every other parameter (gains, scales, mixes, skip weights).
    A parameter may name its group itself with an ``optim_group`` attribute (record features do:
    hashed and value-embedding tables are "embed", small gate matrices "scalar")."""
    groups: dict[str, list[nn.Parameter]] = {"embed": [], "head": [], "matrix": [], "scalar": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if getattr(p, "optim_group", None) in groups:
            groups[p.optim_group].append(p)
        elif name.startswith("tok_emb."):
            groups["embed"].append(p)
        elif name.startswith("lm_head."):
            groups["head"].append(p)
        elif p.ndim == 2 and name.startswith("blocks.") and not any(c in name for c in CONTROL_NAMES):
            groups["matrix"].append(p)
        else:
            groups["scalar"].append(p)
    return groups


def _adam(params: list[nn.Parameter], lr: float, weight_decay: float, cfg: Config) -> torch.optim.Optimizer:
    """Adam for one group; AdamW (decoupled ``p *= 1 - lr * wd``) when the group has a decay."""
    kw = dict(betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, fused=bool(params) and params[0].is_cuda)
    if weight_decay > 0:
        return torch.optim.AdamW([{"params": params, "lr": lr}], weight_decay=weight_decay, **kw)
    return torch.optim.Adam([{"params": params, "lr": lr}], **kw)


def build_optimizers(model: nn.Module, cfg: Config) -> list[torch.optim.Optimizer]:
    """Adam/AdamW (embedding, head, scalars) and Muon (matrices); each group remembers its base LR.

    Decays: ``embed_weight_decay`` on the embedding tables, ``adam_weight_decay`` on the head and
    the scalars, ``muon_weight_decay`` on the matrices (0 = none, the baseline).
    """
    g = param_groups(model)
    embed_lr = cfg.tied_embed_lr if cfg.tie_embeddings else cfg.embed_lr
    opts: list[torch.optim.Optimizer] = [_adam(g["embed"], embed_lr, cfg.embed_weight_decay, cfg)]
    if g["head"]:
        opts.append(_adam(g["head"], cfg.head_lr, cfg.adam_weight_decay, cfg))
    opts.append(Muon(g["matrix"], lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps,
                     coeffs=cfg.muon_coeffs, row_norm=cfg.muon_row_norm, weight_decay=cfg.muon_weight_decay))
    opts.append(_adam(g["scalar"], cfg.scalar_lr, cfg.adam_weight_decay, cfg))
    for opt in opts:
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]
    return opts
