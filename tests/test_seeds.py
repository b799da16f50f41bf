"""`pgolf train --seeds`: parsing, refusals before any run, the command of each seed, the summary.

The runs themselves are trained end to end in tests/test_entrant_flow.py.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

import pytest

from pgolf.cli import main
from pgolf.errors import PgolfError
from pgolf.seeds import parse_seeds, report, run_seeds, seed_command, summarize, upper_bound


def _args(*overrides: str, nproc: int = 1, smoke: bool = False) -> argparse.Namespace:
    return argparse.Namespace(preset="tiny", smoke=smoke, overrides=list(overrides), nproc_per_node=nproc,
                              against=None, against_bpb=None)


def test_parse_seeds():
    assert parse_seeds("1337,42, 2025") == [1337, 42, 2025]
    for bad, msg in (("1,x", "integers"), ("", "at least one"), ("3,3", "repeats")):
        with pytest.raises(PgolfError, match=msg):
            parse_seeds(bad)


def test_each_seed_is_the_single_train_command_with_its_seed_and_run_id():
    cmd = seed_command(_args("num_layers=3", smoke=True), 42, "x-seed42")
    assert cmd == [sys.executable, "-m", "pgolf", "train", "--preset", "tiny", "--smoke", "num_layers=3",
                   "seed=42", "run_id=x-seed42"]
    two = seed_command(_args(nproc=2), 7, "y-seed7")
    assert two[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert two[5:] == ["-m", "pgolf", "train", "--preset", "tiny", "seed=7", "run_id=y-seed7"]


def test_refusals_come_before_any_run(monkeypatch, tmp_path):
    out = f"out_dir={tmp_path / 'runs'}"
    with pytest.raises(PgolfError, match="--seeds only, not also seed="):
        run_seeds(_args("seed=3", out), [1, 2])
    with pytest.raises(PgolfError, match="num_heads"):
        run_seeds(_args("num_heads=3", out), [1, 2])
    with pytest.raises(PgolfError, match="grad_accum_total=2 is not divisible by world size 3"):
        run_seeds(_args(out, nproc=3), [1, 2])
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(PgolfError, match="outside torchrun"):
        run_seeds(_args(out), [1, 2])
    assert not (tmp_path / "runs").exists()


def test_cli_options_that_need_seeds(capsys):
    assert main(["train", "--preset", "tiny", "--json"]) == 2
    assert "go with --seeds" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--seeds", "1,1"]) == 2
    assert "repeats" in capsys.readouterr().err


def test_upper_bound_is_the_one_sided_t_bound():
    from scipy import stats
    values = [3.99081184, 3.97536626, 3.97773027]
    want = statistics.mean(values) + stats.t.ppf(0.99, 2) * statistics.stdev(values) / math.sqrt(3)
    assert upper_bound(values) == pytest.approx(want, rel=1e-9)
    assert upper_bound([1.0]) is None


def _runs(bpbs):
    tpb = 0.4153
    return [dict(seed=s, run_dir=f"runs/t-seed{s}", val_bpb=b, val_loss=b * math.log(2) / tpb, bytes_total=100,
                 steps=6, train_seconds=1.0) for s, b in zip((1, 2, 3), bpbs)]


def test_summary_and_its_stats_line():
    res = summarize(_runs([1.050, 1.052, 1.051]), against_bpb=1.0611)
    assert res["mean_bpb"] == pytest.approx(1.051) and res["std_bpb"] == pytest.approx(0.001)
    assert res["tokens_per_byte"] == pytest.approx(0.4153)
    assert res["stats"]["p_margin_nats"] < 0.01 and res["stats"]["reference_bpb"] == 1.0611
    text = report(res)
    assert "mean val_bpb 1.05100  std 0.00100" in text and "stats: vs 1.06110" in text
    assert "next: pgolf submit runs/t-seed1 runs/t-seed2 runs/t-seed3 --name" in text
    plain = report(summarize(_runs([1.050, 1.052, 1.051])))
    bound = upper_bound([1.050, 1.052, 1.051])
    assert f"stats: mean < {bound:.5f} at p < 0.01" in plain
    assert f"above {bound + 0.005 / math.log(2) * 0.4153:.5f} by 0.005 nats" in plain
    assert "one seed has no spread" in report(summarize(_runs([1.05])))
