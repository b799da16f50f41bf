"""The 8×H100 projection arithmetic on fixed inputs (expected values worked out by hand)."""

import math

import pytest

from pgolf.bench.project import calibrated_efficiency, describe, project

BATCH = 524_288


def test_baseline_like_step_projects_to_the_reference_step_time():
    # 313.2 ms on one H100 / (8 GPUs * 0.9) = 43.5 ms; 600,000 ms / 43.5 ms = 13,793.1 -> 13,793 steps
    p = project(313.2, BATCH, grad_accum_total=8, iterations=20_000, dp_efficiency=0.9)
    assert p["valid"] and p["ends_by"] == "clock"
    assert p["step_ms"] == pytest.approx(43.5)
    assert p["steps"] == 13_793
    assert p["tokens"] == 13_793 * BATCH
    assert p["h100_speed_factor"] == 1.0


def test_iterations_cap_the_steps():
    p = project(313.2, BATCH, grad_accum_total=8, iterations=10_000, dp_efficiency=0.9)
    assert p["steps"] == 10_000 and p["ends_by"] == "iterations"


def test_other_gpu_is_scaled_by_peak_ratio():
    # an A100 (312 TFLOPS) step of 100 ms is 100 * 312 / 989.4 = 31.534 ms on an H100;
    # on 8 GPUs at efficiency 1.0: 3.9418 ms -> floor(600,000 / 3.9418) = 152,215 steps
    p = project(100.0, 1000, grad_accum_total=8, device_peak_flops=312e12, dp_efficiency=1.0)
    assert p["h100_speed_factor"] == pytest.approx(312 / 989.4)
    assert p["step_ms"] == pytest.approx(100 * 312 / 989.4 / 8)
    assert p["steps"] == math.floor(600_000 / (100 * 312 / 989.4 / 8)) == 152_215
    assert p["tokens"] == p["steps"] * 1000


def test_unknown_gpu_counts_as_h100_and_budget_is_an_argument():
    p = project(80.0, 2048, grad_accum_total=16, device_peak_flops=None, dp_efficiency=0.8, budget_s=60)
    # 80 / (8 * 0.8) = 12.5 ms; 60,000 / 12.5 = 4,800 steps
    assert p["step_ms"] == pytest.approx(12.5) and p["steps"] == 4_800 and p["tokens"] == 4_800 * 2048


def test_batch_that_cannot_split_over_eight_gpus():
    p = project(10.0, 8192, grad_accum_total=1)
    assert not p["valid"] and "grad_accum_total=1" in p["reason"]
    assert "not applicable" in describe(p)


def test_calibration_against_the_reference_baseline():
    assert calibrated_efficiency(313.2) == pytest.approx(0.9)
    assert calibrated_efficiency(348.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kw", [dict(step_ms=0.0), dict(dp_efficiency=0.0), dict(dp_efficiency=1.5)])
def test_bad_inputs(kw):
    args = dict(step_ms=10.0, batch_tokens=1024, grad_accum_total=8)
    args.update(kw)
    with pytest.raises(ValueError):
        project(**args)


def test_describe_names_the_assumptions():
    text = describe(project(313.2, BATCH, grad_accum_total=8, dp_efficiency=0.9))
    assert "13,793 steps" in text and "efficiency 0.90" in text


def test_gpu_results_get_a_projection_cpu_results_do_not(monkeypatch):
    import torch

    from pgolf.bench.commands import _projection
    from pgolf.config import load_config

    cfg = load_config("baseline")
    assert _projection(313.2, cfg, torch.device("cpu"), None) is None
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "NVIDIA H100 80GB HBM3")
    p = _projection(313.2, cfg, torch.device("cuda", 0), None)
    assert p["valid"] and p["steps"] == 13_793 and p["dp_efficiency"] == 0.9
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "NVIDIA A100-SXM4-80GB")
    assert _projection(313.2, cfg, torch.device("cuda", 0), 0.8)["h100_speed_factor"] == pytest.approx(312 / 989.4)
