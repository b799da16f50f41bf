"""Learning-rate and momentum schedules.

``baseline``: the LR multiplier is 1 until the warm-down, then falls linearly to 0. With a wall
clock the warm-down is measured in time: it starts when the remaining time equals
``warmdown_iters`` average steps, so a run of any speed ends its warm-down exactly as the clock
runs out.

``fraction`` (the record's): the multiplier is a function of the training fraction f (elapsed
time over the clock's budget, or steps over iterations without a clock): 1 until the last
``warmdown_frac`` of training, then ``(1 - f) / warmdown_frac``. With either schedule the
multiplier never goes below ``min_lr_frac`` (a clamp: ``max(mult, min_lr_frac)``).
"""

from __future__ import annotations

def lr_multiplier(step: int, elapsed_ms: float, iterations: int, warmdown_iters: int, max_wallclock_ms: float) -> float:
    if warmdown_iters <= 0:
        return 1.0
    if max_wallclock_ms <= 0:
        start = max(iterations - warmdown_iters, 0)
        return 1.0 if step < start else max(iterations - step, 0) / warmdown_iters
    step_ms = elapsed_ms / max(step, 1)
    warmdown_ms = warmdown_iters * step_ms
    remaining_ms = max(max_wallclock_ms - elapsed_ms, 0.0)
    return remaining_ms / max(warmdown_ms, 1e-9) if remaining_ms <= warmdown_ms else 1.0


def muon_momentum(step: int, start: float, end: float, warmup_steps: int) -> float:
    """Linear ramp of Muon's momentum from ``start`` to ``end`` over ``warmup_steps``."""
    if warmup_steps <= 0:
        return end
    frac = min(step / warmup_steps, 1.0)
    return (1 - frac) * start + frac * end


def training_fraction(step: int, elapsed_ms: float, iterations: int, max_wallclock_ms: float) -> float:
    """How far through training we are, in [0, 1]: by the clock when there is one, else by steps."""
    if max_wallclock_ms > 0:
        return min(elapsed_ms / max_wallclock_ms, 1.0)
    return min(step / max(iterations, 1), 1.0)


def loop_enabled(cfg, step: int, elapsed_ms: float, cap_ms: float) -> bool:
    """Whether depth recurrence is on: once the training fraction reaches ``loop_enable_frac``."""
    return cfg.loop_extra > 0 and training_fraction(step, elapsed_ms, cfg.iterations, cap_ms) >= cfg.loop_enable_frac


def fraction_multiplier(frac: float, warmdown_frac: float) -> float:
    """1 until the last ``warmdown_frac`` of training, then linearly down to 0 at the end."""
    if warmdown_frac <= 0:
        return 1.0
    return min(1.0, max(1.0 - frac, 0.0) / warmdown_frac)


def lr_for(cfg, step: int, elapsed_ms: float, cap_ms: float | None = None) -> float:
    """The LR multiplier the config asks for, clamped from below at ``min_lr_frac``.

    ``cap_ms`` is the training clock's budget (default: the whole wall-clock cap; training
    passes the cap less any GPTQ calibration reserve).
    """
    cap_ms = cfg.max_wallclock_seconds * 1000 if cap_ms is None else cap_ms
    if cfg.lr_schedule == "fraction":
        mult = fraction_multiplier(training_fraction(step, elapsed_ms, cfg.iterations, cap_ms), cfg.warmdown_frac)
    else:
        mult = lr_multiplier(step, elapsed_ms, cfg.iterations, cfg.warmdown_iters, cap_ms)
    return max(mult, cfg.min_lr_frac)


def train_budget_ms(cfg) -> float:
    """The training clock's cap in ms (0 = none): the wall-clock cap less the GPTQ calibration
    reserve (training + calibration must fit in ``max_wallclock_seconds``)."""
    cap = cfg.max_wallclock_seconds * 1000
    if cap > 0 and cfg.quant_scheme == "gptq":  # validate keeps the reserve below the cap
        cap -= cfg.gptq_reserve_seconds * 1000
    return cap
