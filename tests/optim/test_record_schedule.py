"""The LR, momentum and loop-switch schedules, the clock's budget and the EMA against the record's
own ``train_model`` (its closures compiled from its source, tests/optim/record.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgolf.config import load_config
from pgolf.optim.ema import EMA
from pgolf.optim.schedule import loop_enabled, lr_for, muon_momentum, training_fraction
from pgolf.optim.schedule import train_budget_ms
from tests.optim.record import TrainModelCode, log_hyperparameters, record_h


@pytest.fixture(scope="module")
def logged(reference_root):
    return log_hyperparameters(reference_root)


def _pair(record_script, logged, **changes):
    """(record code with the logged values, our record preset), both changed alike."""
    ours = {"max_wallclock_seconds": "max_wallclock_seconds", "iterations": "iterations",
            "warmdown_frac": "warmdown_frac", "min_lr": "min_lr_frac", "enable_looping_at": "loop_enable_frac",
            "gptq_reserve_seconds": "gptq_reserve_seconds", "muon_momentum_warmup_steps": "muon_momentum_warmup_steps"}
    h = record_h(record_script, **dict(logged, **changes))
    cfg = load_config("record", **{ours[k]: v for k, v in changes.items()})
    return TrainModelCode(record_script, h), cfg


@pytest.mark.parametrize("changes", [
    {},  # the logged run: 600 s clock less 0.5 s, warm-down 85 %, floor 0.1
    {"max_wallclock_seconds": 0.0, "iterations": 4000},  # no clock: by steps
    {"warmdown_frac": 0.0},
    {"min_lr": 0.0, "warmdown_frac": 0.3, "gptq_reserve_seconds": 20.0},
])
def test_lr_multiplier_and_loop_switch_over_a_whole_run(record_script, logged, changes):
    rec, cfg = _pair(record_script, logged, **changes)
    assert train_budget_ms(cfg) == (rec.max_wallclock_ms or 0.0)
    cap = train_budget_ms(cfg)
    clock = np.linspace(0.0, 1.05 * max(cap, 1.0), 2003)  # past the end too
    steps = np.linspace(0, 1.05 * cfg.iterations, 2003).astype(int)
    looped = []
    for step, elapsed in zip(steps.tolist(), clock.tolist()):
        frac = rec.training_frac(step, elapsed)
        assert lr_for(cfg, step, elapsed, cap) == pytest.approx(rec.lr_mul(frac), rel=1e-12, abs=1e-12), (step, elapsed)
        assert loop_enabled(cfg, step, elapsed, cap) == rec.loop_switches_on(frac), (step, elapsed)
        looped.append(rec.loop_switches_on(frac))
    assert 0 < sum(looped) < len(looped)  # the grid crosses the switch


def test_momentum_warmup_over_a_whole_run(record_script, logged):
    for warmup in (logged["muon_momentum_warmup_steps"], 0, 7):
        rec, cfg = _pair(record_script, logged, muon_momentum_warmup_steps=warmup)
        n = max(2 * warmup, 50)
        ours = [muon_momentum(s, cfg.muon_momentum_warmup_start, cfg.muon_momentum, cfg.muon_momentum_warmup_steps)
                for s in range(n)]
        np.testing.assert_allclose(ours, rec.momentum_run(n), rtol=0, atol=1e-15)


def test_training_fraction_is_the_records_below_the_end(record_script, logged):
    rec, cfg = _pair(record_script, logged)
    for elapsed in (0.0, 1.0, 123_456.7, train_budget_ms(cfg) - 1e-3):
        assert training_fraction(0, elapsed, cfg.iterations, train_budget_ms(cfg)) == rec.training_frac(0, elapsed)


def test_ema_matches_the_records_update(record_script, logged):
    rec, cfg = _pair(record_script, logged)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 3))
    model[1].to(torch.bfloat16)  # a bf16 tensor is averaged in fp32, as the record's embedding is
    ema = EMA(model, cfg.ema_decay)
    live = model.state_dict(keep_vars=True)
    theirs = {k: t.detach().float().clone() for k, t in live.items()}
    for _ in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update(model)
        rec.ema_update([(theirs[k], t) for k, t in live.items()], cfg.ema_decay)
    for k in theirs:
        torch.testing.assert_close(ema.shadow[k], theirs[k], rtol=1e-6, atol=1e-7)
    assert cfg.ema_decay == logged["ema_decay"]
