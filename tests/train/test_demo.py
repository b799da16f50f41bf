"""The demo is step-bounded: a fixed number of steps whatever the machine's speed, the clock a guard.

Runs a shrunk ``cpu-demo`` (its model, fewer steps, a smaller batch) in this process with torch on
one thread, so repeated runs execute the same kernels in the same order."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from pgolf.config import DEMO_STEPS, load_config
from pgolf.export import train_and_export
from pgolf.pack.builder import packed_code

STEPS = 6


def _demo(tmp_path, small_data, run_id: str, **kw) -> tuple[dict, list[dict]]:
    data, tok = small_data
    cfg = load_config("cpu-demo", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), run_id=run_id,
                      iterations=STEPS, warmdown_iters=3, train_batch_tokens=2048, train_log_every=1, **kw)
    summary = train_and_export(cfg, {}, packed_code, echo=False)
    rows = [json.loads(line) for line in (tmp_path / run_id / "metrics.jsonl").read_text().splitlines()]
    return summary, rows


def test_the_demo_preset_is_step_bounded():
    cfg = load_config("cpu-demo")
    assert cfg.wallclock_guard and cfg.iterations == DEMO_STEPS
    assert cfg.max_wallclock_seconds >= 600  # a guard far beyond the demo's expected few minutes


def test_the_schedule_follows_steps_not_the_clock():
    from pgolf.optim.schedule import lr_for
    from pgolf.train.trainer import schedule_budget_ms

    cfg = load_config("cpu-demo")
    budget = cfg.max_wallclock_seconds * 1000
    steps = range(0, cfg.iterations + 1, 10)
    by_steps = [lr_for(cfg, s, 0.0, schedule_budget_ms(cfg)) for s in steps]
    for elapsed in (1.0, 0.5 * budget, 0.999 * budget):  # fast, slow, nearly out of time
        assert [lr_for(cfg, s, elapsed, schedule_budget_ms(cfg)) for s in steps] == by_steps
    assert by_steps[0] == 1.0 and by_steps[-1] == 0.0  # the warm-down ends with the last step
    clock = cfg.replace(wallclock_guard=False)  # the official mode: the clock paces the warm-down
    assert lr_for(clock, 10, 0.999 * budget, schedule_budget_ms(clock)) < 1.0 == lr_for(clock, 10, 1.0, budget)


def test_two_runs_give_the_same_numbers_at_any_speed(tmp_path, small_data, one_thread, monkeypatch):
    a, rows_a = _demo(tmp_path, small_data, "a")
    b, rows_b = _demo(tmp_path, small_data, "b")
    ticks = itertools.count()
    monkeypatch.setattr(time, "perf_counter", lambda: 10.0 * next(ticks))  # every clock read: 10 s later
    slow, rows_slow = _demo(tmp_path, small_data, "slow")  # a very slow machine, still inside the guard
    monkeypatch.undo()
    assert slow["train_seconds"] >= 10.0 * STEPS  # the fake clock did reach the trainer
    for s, rows in ((b, rows_b), (slow, rows_slow)):
        assert s["steps"] == a["steps"] == STEPS and s["stopped_by"] == a["stopped_by"] == "iterations"
        losses = [r["train_loss"] for r in rows if "train_loss" in r]
        assert losses == pytest.approx([r["train_loss"] for r in rows_a if "train_loss" in r], abs=1e-5)
        assert s["pre_quant_val_bpb"] == pytest.approx(a["pre_quant_val_bpb"], abs=1e-5)
        assert s["val_bpb"] == pytest.approx(a["val_bpb"], abs=1e-5)


def test_the_guard_clock_stops_an_overrun_loudly(tmp_path, small_data, one_thread):
    s, _ = _demo(tmp_path, small_data, "guard", max_wallclock_seconds=1e-6)  # every step takes longer
    assert s["stopped_by"] == "wallclock" and s["steps"] < STEPS
    log = (tmp_path / "guard" / "train.log").read_text()
    assert "WARNING: the wall-clock guard" in log and f"step {s['steps']} of {STEPS}" in log
