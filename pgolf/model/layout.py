"""The order blocks run in: depth recurrence and where the U-Net skips and lanes attach.

Without recurrence the order is 0..L-1. With it, layers ``[loop_start, loop_end)`` run
``loop_extra`` more times right after their first pass (weights shared), e.g. 11 layers with
3..5 looped twice give 17 virtual layers: 0 1 2 3 4 5 3 4 5 3 4 5 6 7 8 9 10.
The U-Net stays physical: an encoder layer's skip is its output on its last pass, and a decoder
layer takes it on its first pass after that (a later pass when the loop crosses the middle), so
every skip is used exactly once.
"""

from __future__ import annotations

from typing import NamedTuple

from pgolf.config import Config
from pgolf.errors import PgolfError


class Step(NamedTuple):
    layer: int
    first: bool  # first pass of this layer
    last: bool  # last pass of this layer


def layer_order(num_layers: int, loop_start: int, loop_end: int, loop_extra: int, looping: bool) -> list[Step]:
    if not looping or loop_extra <= 0:
        return [Step(i, True, True) for i in range(num_layers)]
    loop = list(range(loop_start, loop_end))
    seq = list(range(loop_end)) + loop * loop_extra + list(range(loop_end, num_layers))
    out, seen = [], set()
    for n, i in enumerate(seq):
        out.append(Step(i, i not in seen, i not in seq[n + 1 :]))
        seen.add(i)
    return out


def check_features(cfg: Config) -> None:
    """One-line errors for layer-indexed and size options that do not fit the model."""
    L = cfg.num_layers
    if cfg.loop_extra > 0 and not (0 <= cfg.loop_start < cfg.loop_end <= L):
        raise PgolfError(f"loop layers [{cfg.loop_start}, {cfg.loop_end}) are not a range inside 0..{L}")
    if cfg.parallel_from >= L:
        raise PgolfError(f"parallel_from={cfg.parallel_from} must be < num_layers={L}")
    if cfg.loop_extra > 0 and cfg.loop_start < cfg.parallel_from < cfg.loop_end:
        raise PgolfError(f"parallel_from={cfg.parallel_from} falls inside the loop [{cfg.loop_start}, "
                         f"{cfg.loop_end}); the lanes must split before or after it")
    for name in ("attn_gate_dims", "smear_gate_dims"):
        if getattr(cfg, name) > cfg.model_dim:
            raise PgolfError(f"{name}={getattr(cfg, name)} exceeds model_dim={cfg.model_dim}")
    if cfg.rope_dims < 0 or cfg.rope_dims % 2 or cfg.rope_dims > cfg.head_dim:
        raise PgolfError(f"rope_dims={cfg.rope_dims} must be even and <= head_dim={cfg.head_dim}")
