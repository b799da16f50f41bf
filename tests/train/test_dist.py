"""A 2-process gloo run under torchrun trains on the same global batch as 1 process."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import HANG_TIMEOUT


def _losses(run_dir: Path) -> list[float]:
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in rows if "train_loss" in r]


def _train(tmp_path, tiny_overrides, nproc: int) -> Path:
    run_id = f"np{nproc}"
    args = ["-m", "pgolf", "train", "--preset", "tiny", *tiny_overrides, f"run_id={run_id}", "iterations=4", "grad_accum_total=2"]
    if nproc == 1:
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp_path / "runs" / run_id



def test_two_processes_match_one(tmp_path, tiny_overrides):
    one = _losses(_train(tmp_path, tiny_overrides, 1))
    two = _losses(_train(tmp_path, tiny_overrides, 2))
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):
        assert abs(a - b) < 1e-4 * max(1.0, abs(a)), (one, two)
