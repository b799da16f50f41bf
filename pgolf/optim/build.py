"""Split a model's parameters into the baseline's optimizer groups and build the optimizers."""

from __future__ import annotations

import torch
from torch import nn

from pgolf.config import Config
from pgolf.errors import PgolfError
from pgolf.optim.muon import Muon


GROUPS = ("embed", "head", "matrix", "scalar")
# Per-channel controls that are 2-D or 3-D, by their last name part: Adam, not Muon (the baseline's rule).
CONTROL_NAMES = frozenset({"resid_mix", "skip_weights", "skip_gates", "lane_resid", "lane_post"})

# Which group each rule claims a parameter for (name, parameter). A parameter may also name its
# group itself with an ``optim_group`` attribute (hashed and value-embedding tables are "embed",
# their projection "matrix", the small attention gate "scalar").
RULES = (
    ("embed", lambda n, p: n == "tok_emb.weight"),  # the token embedding
    ("head", lambda n, p: n.startswith("lm_head.")),  # an untied output head
    ("matrix", lambda n, p: p.ndim == 2 and n.startswith("blocks.") and n.endswith(".weight")),  # block weights: Muon
    ("scalar", lambda n, p: p.ndim < 2 or n.rsplit(".", 1)[-1] in CONTROL_NAMES),  # gains, scales, mixes, skips, lanes
)


def claims(name: str, p: nn.Parameter) -> list[str]:
    """The groups that claim ``p``: its ``optim_group`` tag, then every rule that matches."""
    tag = getattr(p, "optim_group", None)
    return ([tag] if tag is not None else []) + [g for g, rule in RULES if rule(name, p)]


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Every trainable parameter in exactly one of embed, head, matrix (Muon) and scalar; a
    parameter that no rule (or more than one) claims is an error, so a new one cannot slip
    silently into the wrong optimizer."""
    groups: dict[str, list[nn.Parameter]] = {g: [] for g in GROUPS}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        got = claims(name, p)
        if len(got) != 1 or got[0] not in groups:
            raise PgolfError(f"optimizer groups: {name} {tuple(p.shape)} is claimed by "
                             f"{', '.join(got) or 'no rule'} (one rule in optim/build.py, or an optim_group tag)")
        groups[got[0]].append(p)
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
