"""From one GPU's step time to what an 8×H100 run completes in the 600 s training budget.

The arithmetic, with every assumption a named argument:

* On one GPU a step runs ``grad_accum_total`` micro-batches one after another; on ``n_gpus``
  ranks each rank runs ``grad_accum_total / n_gpus`` of the same size (``train/batch.py``), and
  Muon orthogonalises a round-robin share of the matrices per rank. So the ideal 8-GPU step is
  the 1-GPU step divided by 8.
* ``dp_efficiency`` (default 0.90) is the fraction of that ideal kept: gradient all-reduce not
  hidden behind the backward pass, Muon's all-reduce, fixed per-step costs (launches, Adam on
  the embeddings and scalars, the Python loop) that do not shrink with the per-rank batch, and
  rank skew. ``docs/bench.md`` gives the estimate behind the default and how to calibrate it
  against the reference baseline's 43.5 ms.
* A measurement on another GPU is converted to an H100 SXM by the ratio of dense bf16 peaks
  (the same MFU is assumed on both). H200 has the H100's peak but more memory bandwidth, so a
  projection from an H200 is slightly optimistic.
"""

from __future__ import annotations

import math

H100_SXM_PEAK_FLOPS = 989.4e12  # dense bf16 tensor-core peak of one H100 SXM
BUDGET_SECONDS = 600.0
N_GPUS = 8
DP_EFFICIENCY = 0.90
# The reference baseline on 8×H100: 13,780 steps of 524,288 tokens at 43.5 ms (REFERENCE.md).
BASELINE_8XH100_STEP_MS = 43.5


def project(
    step_ms: float,
    batch_tokens: int,
    grad_accum_total: int,
    iterations: int = 0,
    device_peak_flops: float | None = H100_SXM_PEAK_FLOPS,
    dp_efficiency: float = DP_EFFICIENCY,
    n_gpus: int = N_GPUS,
    budget_s: float = BUDGET_SECONDS,
) -> dict:
    """Projected 8×H100 step time, steps and tokens in ``budget_s`` from a 1-GPU ``step_ms``.

    ``iterations`` > 0 caps the steps (the run then ends by count, not by clock).
    ``device_peak_flops`` is the measuring GPU's peak (None: unknown, assumed equal to an H100).
    """
    if step_ms <= 0 or batch_tokens <= 0:
        raise ValueError("step_ms and batch_tokens must be positive")
    if not 0 < dp_efficiency <= 1:
        raise ValueError("dp_efficiency must be in (0, 1]")
    out = dict(n_gpus=n_gpus, budget_s=budget_s, dp_efficiency=dp_efficiency, measured_step_ms=step_ms)
    if grad_accum_total % n_gpus:
        return dict(out, valid=False, reason=f"grad_accum_total={grad_accum_total} does not split over {n_gpus} GPUs")
    speed = 1.0 if device_peak_flops is None else device_peak_flops / H100_SXM_PEAK_FLOPS
    h100_step_ms = step_ms * speed
    step_ms_n = h100_step_ms / (n_gpus * dp_efficiency)
    clock_steps = math.floor(budget_s * 1000 / step_ms_n)
    steps = min(clock_steps, iterations) if iterations > 0 else clock_steps
    return dict(
        out,
        valid=True,
        h100_speed_factor=speed,
        step_ms=step_ms_n,
        steps=steps,
        tokens=steps * batch_tokens,
        ends_by="iterations" if steps < clock_steps else "clock",
    )


def calibrated_efficiency(h100_step_ms: float, n_gpus: int = N_GPUS,
                          reference_step_ms: float = BASELINE_8XH100_STEP_MS) -> float:
    """The efficiency that maps a 1-H100 baseline step onto the reference 8×H100 step time."""
    return h100_step_ms / (n_gpus * reference_step_ms)


def describe(p: dict) -> str:
    """One line for the terminal."""
    if not p.get("valid"):
        return f"projection to {p['n_gpus']}×H100: not applicable ({p['reason']})"
    return (f"projection to {p['n_gpus']}×H100 in {p['budget_s']:.0f}s: {p['step_ms']:.1f} ms/step, "
            f"{p['steps']:,} steps, {p['tokens'] / 1e9:.2f}B tokens (ends by {p['ends_by']}; assumes "
            f"data-parallel efficiency {p['dp_efficiency']:.2f}, H100 speed factor {p['h100_speed_factor']:.2f})")
