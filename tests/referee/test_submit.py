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
    odd = make_run(tmp_path / "runs" / "odd", seed=9, bpb=3.99, loss=6.6, num_layers=3, matrix_lr=0.05)
    with pytest.raises(PgolfError, match=r"odd: config differs from .*r0 \(its value vs the first's\): "
                                         r"matrix_lr=0.05 vs 0.04, num_layers=3 vs 2$"):
        submit([*runs, odd], "X", "a", "b", tmp_path / "records", when=WHEN)
    other = make_run(tmp_path / "runs" / "other", seed=8, bpb=3.99, loss=6.6, code_version="deadbeef0000")
    with pytest.raises(PgolfError, match="other: code version deadbeef0000 differs from .*r0's 0aeb812c32ed"):
        submit([*runs, other], "X", "a", "b", tmp_path / "records", when=WHEN)
    edited = make_run(tmp_path / "runs" / "edited", seed=7, bpb=3.99, loss=6.6,
                      train_gpt="print('another edit of the same commit')\n")
    with pytest.raises(PgolfError, match="edited/train_gpt.py differs from .*r0/train_gpt.py in not both written "
                                         "by `pgolf pack`; the text differs from line 1"):
        submit([*runs, edited], "X", "a", "b", tmp_path / "records", when=WHEN)
    with pytest.raises(PgolfError, match="seeds repeat"):
        submit([runs[0], runs[0]], "X", "a", "b", tmp_path / "records", when=WHEN)
    assert not (tmp_path / "records").exists() or not any((tmp_path / "records").iterdir())


def _packed(cfg: dict, mods: dict | None = None) -> str:
    from pgolf.pack.builder import build_source

    return build_source(cfg, mods)


def _write_packed(run, text: str) -> None:
    (run / "train_gpt.py").write_bytes(text.encode("latin-1"))


def test_seeds_of_one_recipe_share_their_packed_file_and_submit(tmp_path):
    """Packed files of seeds 1, 2, 3 (other run ids and data locations) are one file."""
    runs = _runs(tmp_path, train_gpt=None)
    for r in runs:
        cfg = json.loads((r / "config.json").read_text())
        _write_packed(r, _packed(dict(cfg, data_path=f"/mnt/{r.name}/datasets/fineweb10B_sp1024")))
    assert len({(r / "train_gpt.py").read_bytes() for r in runs}) == 1
    folder, report = submit(runs, "Seeds", "a", "b", tmp_path / "records", when=WHEN)
    assert report["ok"] and (folder / "train_gpt.py").read_bytes() == (runs[0] / "train_gpt.py").read_bytes()
    readme = (folder / "README.md").read_text()
    assert "--seeds 1,2,3" in readme and "default `data/datasets/fineweb10B_sp1024`" in readme


def test_packed_files_that_differ_are_explained(tmp_path):
    from pgolf.pack.builder import bundle

    runs = _runs(tmp_path, n=2, train_gpt=None)
    cfg = json.loads((runs[0] / "config.json").read_text())
    _write_packed(runs[0], _packed(cfg))
    # same config and code version, but one module edited (a dirty tree): the module is named
    mods = bundle(cfg)
    mods["pgolf.optim.muon"] = [0, mods["pgolf.optim.muon"][1] + "EDITED = True\n"]
    _write_packed(runs[1], _packed(json.loads((runs[1] / "config.json").read_text()), mods))
    with pytest.raises(PgolfError, match=r"r1/train_gpt.py differs from .*r0/train_gpt.py in module source "
                                         r"pgolf.optim.muon$"):
        submit(runs, "X", "a", "b", tmp_path / "records", when=WHEN)
    # files packed when the seed was baked in: the seed is named, with the remedy
    for r, seed in zip(runs, (1, 2)):
        text = _packed(cfg).replace("\nR=", "\n#R=").replace("C={", f"C={{'seed': {seed}, ", 1)
        _write_packed(r, text)
    with pytest.raises(PgolfError, match=r"recipe seed=2 vs 1 \(per-run fields baked in by an older `pgolf pack`; "
                                         r"regenerate .* `pgolf pack RUN_DIR --out RUN_DIR --no-model`"):
        submit(runs, "X", "a", "b", tmp_path / "records", when=WHEN)
    # the remedy works: re-packed, the two runs submit
    for r in runs:
        assert main(["pack", str(r), "--out", str(r), "--no-model"]) == 0
    assert submit(runs, "X", "a", "b", tmp_path / "records", when=WHEN)[1]["ok"]


def test_cli_submit_and_existing_folder(tmp_path, capsys):
    runs = [str(r) for r in _runs(tmp_path, n=2)]
    args = ["submit", *runs, "--name", "Cli", "--author", "a", "--github-id", "b", "--out", str(tmp_path / "rec")]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 2  # exists: one-line error
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0


def test_submit_packs_when_the_run_has_no_train_gpt(tmp_path):
    runs = _runs(tmp_path, n=2, train_gpt=None)
    folder, _ = submit(runs, "Packed", "a", "b", tmp_path / "records", when=WHEN)
    assert (folder / "train_gpt.py").stat().st_size > 0
