"""`pgolf submit`: a record folder from seed runs that `pgolf check` then passes; refusals."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from pgolf.cli import main
from pgolf.errors import PgolfError
from pgolf.referee.check import check_folder
from pgolf.referee.submit import submit
from tests.referee.kit import CODE, make_run

WHEN = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.timezone.utc)


def _runs(tmp_path, n=3, **kw):
    out = []
    for i, bpb in enumerate((3.99444988, 3.99101234, 3.99712345)[:n]):
        out.append(make_run(tmp_path / "runs" / f"r{i}", seed=i + 1, bpb=bpb, loss=bpb * math.log(2) / 0.4153, **kw))
    return out


def test_submit_writes_a_folder_that_passes_check(tmp_path):
    runs = _runs(tmp_path)
    folder, report = submit(runs, "Tiny Test", "Tester", "tester", tmp_path / "records", blurb="tiny", when=WHEN)
    assert folder.name == "2026-04-01_Tiny_Test" and report["ok"], report
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "model.pgolf", "requirements.txt", "submission.json", "train_gpt.py",
                     "train_seed1.log", "train_seed2.log", "train_seed3.log"]
    assert not list((tmp_path / "records").glob(".*"))  # no temporary folder left
    sub = json.loads((folder / "submission.json").read_text())
    for key in ("author", "github_id", "name", "blurb", "date", "track", "val_loss", "val_bpb", "val_loss_std",
                "val_bpb_std", "seeds", "seed_results", "bytes_total", "bytes_code", "hardware", "pytorch_version"):
        assert key in sub, key
    assert sub["seeds"] == [1, 2, 3] and sub["bytes_code"] == len(CODE)
    assert sub["seed_results"]["2"]["artifact_bytes"] == len(CODE) + 91878
    assert sub["val_bpb"] == pytest.approx((3.99444988 + 3.99101234 + 3.99712345) / 3, abs=1e-8)
    again = check_folder(folder)
    assert again["ok"] and all(v["status"] != "fail" for v in again["rules"])
    readme = (folder / "README.md").read_text()
    assert "SEED=2 torchrun" in readme and "artifact_size:" in readme and "| 3 | 3.99712345 |" in readme
    assert "Not claimed" in readme  # the data rules were not checkable here, and the README says so


def test_refuses_runs_of_another_config(tmp_path):
    runs = _runs(tmp_path, n=2)
    odd = make_run(tmp_path / "runs" / "odd", seed=9, bpb=3.99, loss=6.6, num_layers=3)
    with pytest.raises(PgolfError, match="num_layers"):
        submit([*runs, odd], "X", "a", "b", tmp_path / "records", when=WHEN)
    other = make_run(tmp_path / "runs" / "other", seed=8, bpb=3.99, loss=6.6, code_version="deadbeef0000")
    with pytest.raises(PgolfError, match="code"):
        submit([*runs, other], "X", "a", "b", tmp_path / "records", when=WHEN)
    edited = make_run(tmp_path / "runs" / "edited", seed=7, bpb=3.99, loss=6.6,
                      train_gpt="print('another edit of the same commit')\n")
    with pytest.raises(PgolfError, match="train_gpt.py: differs"):
        submit([*runs, edited], "X", "a", "b", tmp_path / "records", when=WHEN)
    with pytest.raises(PgolfError, match="seeds repeat"):
        submit([runs[0], runs[0]], "X", "a", "b", tmp_path / "records", when=WHEN)
    assert not (tmp_path / "records").exists() or not any((tmp_path / "records").iterdir())


def test_cli_submit_and_existing_folder(tmp_path, capsys):
    runs = [str(r) for r in _runs(tmp_path, n=2)]
    args = ["submit", *runs, "--name", "Cli", "--author", "a", "--github-id", "b", "--out", str(tmp_path / "rec")]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 2  # exists: one-line error
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_submit_packs_when_the_run_has_no_train_gpt(tmp_path):
    pytest.importorskip("pgolf.pack")
    runs = _runs(tmp_path, n=2, train_gpt=None)
    folder, _ = submit(runs, "Packed", "a", "b", tmp_path / "records", when=WHEN)
    assert (folder / "train_gpt.py").stat().st_size > 0
