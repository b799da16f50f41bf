"""A record script's weights in a pgolf model: the 1.0611 record's state dict, mapped by name.

The record keeps its block matrices in four banks (``qo_bank``: the Q projections of every layer,
then the output projections; ``kv_bank``: K then V; ``mlp_up_bank``; ``mlp_down_bank``) and a
few tensors under its own names. :func:`load_reference_weights` unbanks them onto this package's
per-layer names and copies every tensor into the model in place, so that, when the model was
built from the record's config (``pgolf.config_from_log``), ``model.forward_logits`` gives the
script's ``forward_logits``. The already unbanked form (per-layer ``blocks.<i>.attn.c_q.weight``
names, as the script's export writes them) is accepted too.
"""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn

from pgolf.errors import PgolfError

# bank -> the per-layer tensors it stacks, in order (each takes num_layers rows)
BANKS = {
    "qo_bank": ("attn.c_q.weight", "attn.proj.weight"),
    "kv_bank": ("attn.c_k.weight", "attn.c_v.weight"),
    "mlp_up_bank": ("mlp.fc.weight",),
    "mlp_down_bank": ("mlp.proj.weight",),
}
_same: Callable[[torch.Tensor], torch.Tensor] = lambda t: t  # noqa: E731
# the record's top-level names -> ours, with the conversion of the tensor
RENAMES: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "smear_gate.weight": ("smear.weight", lambda t: t.reshape(-1) if t.dim() == 2 and t.size(0) == 1 else t),
    "smear_lambda": ("smear.lam", _same),
    "parallel_resid_lambdas": ("lane_resid", _same),
    "parallel_post_lambdas": ("lane_post", _same),
}
# the record's names inside blocks.<i>. -> ours
BLOCK_RENAMES = {"attn.attn_gate_w": "attn.gate"}
# read only by the script's parallel lanes: a run without lanes leaves them unused
LANE_KEYS = ("parallel_resid_lambdas", "parallel_post_lambdas")


def _rename(key: str) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]]:
    if key in RENAMES:
        return RENAMES[key]
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if m and m.group(2) in BLOCK_RENAMES:
        return f"blocks.{m.group(1)}.{BLOCK_RENAMES[m.group(2)]}", _same
    return key, _same


def to_pgolf_names(state_dict: dict[str, torch.Tensor], num_layers: int) -> dict[str, tuple[str, torch.Tensor]]:
    """{our name: (the record's key it came from, tensor)} for a record state dict."""
    out: dict[str, tuple[str, torch.Tensor]] = {}
    bad = []
    for key, t in state_dict.items():
        if key in BANKS:
            parts = BANKS[key]
            if t.dim() != 3 or t.size(0) != len(parts) * num_layers:
                bad.append(f"{key} has shape {tuple(t.shape)}, not ({len(parts) * num_layers}, ., .) "
                           f"for {num_layers} layers")
                continue
            for j, name in enumerate(parts):
                for i in range(num_layers):
                    out[f"blocks.{i}.{name}"] = (f"{key}[{j * num_layers + i}]", t[j * num_layers + i])
        else:
            name, convert = _rename(key)
            out[name] = (key, convert(t))
    if bad:
        raise PgolfError("reference state dict: " + "; ".join(bad))
    return out


def load_reference_weights(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy a record script's ``state_dict`` (banked or unbanked) into ``model`` in place.

    Every tensor of the model must be supplied and every supplied tensor used, with the model's
    shape; otherwise a one-line PgolfError names the keys (the lane multipliers are skipped
    when the model has no lanes: the script does not read them then)."""
    src = to_pgolf_names(state_dict, model.cfg.num_layers)
    if getattr(model, "lane_post", None) is None:
        src = {k: v for k, v in src.items() if v[0] not in LANE_KEYS}
    ours = model.state_dict()
    problems = []
    missing = sorted(set(ours) - set(src))
    if missing:
        problems.append("missing " + ", ".join(missing))
    unknown = sorted(src[k][0] for k in set(src) - set(ours))
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    for name in sorted(set(src) & set(ours)):
        key, t = src[name]
        if tuple(t.shape) != tuple(ours[name].shape):
            problems.append(f"{key} has shape {tuple(t.shape)}, the model's {name} {tuple(ours[name].shape)}")
    if problems:
        raise PgolfError("reference state dict: " + "; ".join(problems))
    with torch.no_grad():
        for name, (_, t) in src.items():
            ours[name].copy_(t.to(ours[name].device))
