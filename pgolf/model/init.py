"""Every parameter's initial value, in one place: :func:`init_weights`.

The random draws come from ``generator`` (torch's default one unless given), in this order:

1. the official baseline's draws, in the order its script builds them: the token embedding's
   N(0, 1), then per block Q, K, V, attention output, MLP up, MLP down with PyTorch's Linear
   default (uniform, bound 1/sqrt(fan_in)), then the untied head's; then the tied embedding is
   redrawn N(0, tied_embed_init_std). So one seed gives the official script's initial weights;
   the output projections and the untied head are then zeroed (each block starts as the
   identity on its stream, the model as uniform);
2. with ``orthogonal_init`` (the record's): per block, orthogonal Q, K, V and MLP up;
3. the optional tables, N(0, 0.02): the value embedding, then BigramHash (its projection zero).

A draw depends only on those listed before it, so adding an optional module never changes the
blocks' or the embedding's initial weights. The other parameters are constants: gains and scales
1 (``q_gain``: ``qk_gain_init``), ``resid_mix`` (1, 0) (the stream, no embedding), skip
weights 1, skip and attention gates 0 (half open), SmearGate's weight and lambda 0 (closed), lane
residuals 1.1 and lane shares 1 (the record's). A parameter that is neither a weight drawn
above nor named in ``CONSTANTS`` is an error, so a new one cannot go uninitialised silently.
"""

from __future__ import annotations

import torch
from torch import nn

# constant initial values, by the parameter's full name or its name in its module
CONSTANTS = {"attn_scale": 1.0, "mlp_scale": 1.0, "ve_gain": 1.0, "gate": 0.0, "skip_weights": 1.0,
             "skip_gates": 0.0, "smear.weight": 0.0, "smear.lam": 0.0, "lane_resid": 1.1, "lane_post": 1.0}


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Set every parameter of the GPT ``model`` to its initial value (module docstring)."""
    cfg, g, blocks = model.cfg, generator, model.blocks

    def linear(w):  # what nn.Linear's constructor draws
        nn.init.kaiming_uniform_(w, a=5**0.5, generator=g)

    nn.init.normal_(model.tok_emb.weight, generator=g)
    for b in blocks:
        for lin in (b.attn.c_q, b.attn.c_k, b.attn.c_v, b.attn.proj, b.mlp.fc, b.mlp.proj):
            linear(lin.weight)
    if model.lm_head is not None:
        linear(model.lm_head.weight)
    else:  # tied
        nn.init.normal_(model.tok_emb.weight, std=cfg.tied_embed_init_std, generator=g)
    if cfg.orthogonal_init:
        for b in blocks:
            for lin in (b.attn.c_q, b.attn.c_k, b.attn.c_v, b.mlp.fc):
                nn.init.orthogonal_(lin.weight, generator=g)
    for m in (model.value_embed, model.bigram):
        if m is not None:
            nn.init.normal_(m.table.weight, std=0.02, generator=g)
    for name, p in model.named_parameters():
        key = name.rsplit(".", 1)[-1]
        if name.endswith(("proj.weight", "lm_head.weight")):  # output projections, the untied head
            p.zero_()
        elif key == "resid_mix":
            p[0], p[1] = 1.0, 0.0
        elif key == "q_gain":
            p.fill_(cfg.qk_gain_init)
        elif name in CONSTANTS or key in CONSTANTS:
            p.fill_(CONSTANTS.get(name, CONSTANTS.get(key)))
        elif key != "weight":  # the weights are drawn above
            raise RuntimeError(f"init_weights has no rule for parameter {name}")
