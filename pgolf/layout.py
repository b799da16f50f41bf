"""The order blocks run in: depth recurrence, the U-Net halves and where the lanes start.

Pure arithmetic on the config (no torch), so ``config.validate`` checks a layout before any
model is built, and the model builds the same layout.

Without recurrence the order is 0..L-1. With it, layers ``[loop_start, loop_end)`` run
``loop_extra`` more times right after their first pass (weights shared): 11 layers with 3..5
looped twice give 17 *virtual* layers, 0 1 2 3 4 5 3 4 5 3 4 5 6 7 8 9 10.

The U-Net is drawn over the virtual sequence: its first half (rounded down) is the encoder, the
rest the decoder, and decoder pass d takes the output of encoder pass (n_enc - 1 - d) through
skip weight d. With the record's loop that is 8 encoder and 9 decoder passes, 8 skips: v7->v8,
v6->v9, ..., v0->v15. Until the loop switches on, the physical halves run (5 + 6 layers) and the
first 5 skip weights are used.

Parallel lanes start at the first decoder pass whose layer is >= ``parallel_from``; every later
pass must be in lanes too, and no encoder pass may reach that layer.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def virtual_layers(num_layers: int, loop_start: int, loop_end: int, loop_extra: int,
                   looping: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(encoder passes, decoder passes): the physical layer of each virtual layer, in order."""
    if looping and loop_extra > 0:
        seq = [*range(loop_end), *list(range(loop_start, loop_end)) * loop_extra, *range(loop_end, num_layers)]
        half = len(seq) // 2
    else:
        seq, half = list(range(num_layers)), num_layers // 2
    return tuple(seq[:half]), tuple(seq[half:])


def halves(cfg, looping: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return virtual_layers(cfg.num_layers, cfg.loop_start, cfg.loop_end, cfg.loop_extra, looping)


def num_skips(cfg) -> int:
    """Skip weights the model holds: one per decoder pass that has an encoder pass to pair with,
    counted on the longest (looped) sequence."""
    enc, dec = halves(cfg, looping=cfg.loop_extra > 0)
    return min(len(enc), len(dec))


def layout_problems(cfg) -> list[str]:
    """What is wrong with the layer-indexed and size options (empty when they fit the model)."""
    L, out = cfg.num_layers, []
    if cfg.loop_extra > 0 and not (0 <= cfg.loop_start < cfg.loop_end <= L):
        return [f"loop layers [{cfg.loop_start}, {cfg.loop_end}) are not a range inside 0..{L}"]
    if cfg.parallel_from >= L:
        out.append(f"parallel_from={cfg.parallel_from} must be < num_layers={L}")
    elif cfg.parallel_from >= 0:
        for looping in (False, True):
            enc, dec = halves(cfg, looping)
            lanes = [i >= cfg.parallel_from for i in dec]
            if any(i >= cfg.parallel_from for i in enc) or lanes != sorted(lanes):
                out.append(f"parallel_from={cfg.parallel_from}: the lanes must start in the decoder and "
                           f"run to the end (encoder layers {list(enc)}, decoder layers {list(dec)})")
                break
    if cfg.gate_window > cfg.model_dim or cfg.gate_window < 1:
        out.append(f"gate_window={cfg.gate_window} must be in 1..model_dim={cfg.model_dim}")
    head_dim = cfg.model_dim // cfg.num_heads
    if cfg.rope_dims < 0 or cfg.rope_dims % 2 or cfg.rope_dims > head_dim:
        out.append(f"rope_dims={cfg.rope_dims} must be even and <= head_dim={head_dim}")
    return out

