"""The CLI end to end on the tiny preset: train -> artifact -> fresh-process eval, and the main job."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgolf.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("run", "data", "train", "eval"):
        assert cmd in out


def test_train_then_fresh_eval_agree(tmp_path, tiny_overrides, capsys):
    assert main(["train", "--preset", "tiny", *tiny_overrides, "run_id=t"]) == 0
    run_dir = tmp_path / "runs" / "t"
    for name in ("train.log", "metrics.jsonl", "config.json", "checkpoint.pt", "model.pgolf", "summary.json"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    log = (run_dir / "train.log").read_text()
    assert "step:6/6 train_loss:" in log and "final_int8_zlib_roundtrip_exact val_loss:" in log
    assert summary["bytes_total"] == summary["bytes_model"] + summary["bytes_code"]
    assert summary["target_tokens"] == 1_040_059 and summary["bytes"] == 2_504_310
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))  # the same threads, the same sums
    out = subprocess.run([sys.executable, "-m", "pgolf", "eval", str(run_dir / "model.pgolf"), "--json"],
                         capture_output=True, text=True, check=True, env=env)
    fresh = json.loads(out.stdout)
    assert fresh["val_bpb"] == summary["val_bpb"] and fresh["val_loss"] == summary["val_loss"]


def test_bad_override_is_one_line(tiny_overrides, capsys):
    assert main(["train", "--preset", "tiny", *tiny_overrides, "num_layer=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf: error:") and err.count("\n") == 1 and "num_layers" in err


def test_eval_of_missing_artifact(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.pgolf")]) == 2
    assert "nope.pgolf" in capsys.readouterr().err


def test_main_job_on_the_mirror(tmp_path, mini, capsys):
    args = ["run", "--mirror", str(mini), "--dest", str(tmp_path / "data"), "--train-shards", "1", "--json",
            "--quiet", "--preset", "tiny", f"out_dir={tmp_path / 'runs'}"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("val_loss", "val_bpb", "bytes_code", "bytes_model", "bytes_total", "train_seconds",
                "eval_seconds", "steps", "artifact", "run_dir"):
        assert key in res
    assert res["eval_agrees"] and res["steps"] == 6 and res["stopped_by"] == "iterations" and not res["guard_stopped"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert res["curves"] == str(Path(res["run_dir"]) / "curves.png") and Path(res["curves"]).is_file()
    else:
        assert res["curves"] is None and "pip install 'pgolf[plots]'" in res["curves_note"]
    on_disk = json.loads((tmp_path / "runs" / res["run_dir"].split("/")[-1] / "summary.json").read_text())
    assert on_disk["val_bpb"] == res["val_bpb"]
