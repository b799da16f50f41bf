"""The entrant's whole path on the mini data, command by command, on real runs.

fetch from the mirror -> `pgolf train --seeds` (3 seeds of the tiny preset) -> `pgolf submit` ->
`pgolf check` (every rule passes or has nothing to check) -> `pgolf stats` against an official
record -> `pgolf leaderboard` over our folder and that record -> the folder's train_gpt.py, run
from an empty folder with SEED and the official variables, reproduces that seed's score. Then the
same for one seed under torchrun with 2 gloo ranks.

Every training run is a child process on one thread (OMP_NUM_THREADS=1), so a reproduction is
the same computation and its score must match to the logged 8 decimals. The fetched val split is
cut to its first whole documents (VAL_TOKENS), as `pgolf bench proxy --val-tokens` does, so each
evaluation takes about a second instead of about ten on a 2-core CPU; everything else is as
fetched.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from pgolf.cli import main
from pgolf.referee.records import parse_log
from pgolf.referee.verdict import NA, PASS
from tests.conftest import MINI
from tests.reference import RECORD_1_0611

SEEDS = (1337, 42, 2025)
VAL_TOKENS = 32_768
ENV = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "PYTHONPATH")}
ENV["OMP_NUM_THREADS"] = "1"
# rules with nothing to check in a folder of ours: no tokenizer shipped (sp1024 is the official
# one), no score-first TTT, so no audit report
NOTHING_TO_CHECK = {"tokenizer_bytes", "score_first_audit", "calibration_time"}  # no byte table, audit or GPTQ here


def _pgolf(*args: str, cwd: Path, env: dict | None = None, launcher: list[str] | None = None) -> str:
    cmd = [*(launcher or [sys.executable]), *args]
    out = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _json_main(capsys, *args: str) -> dict | list:
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """`pgolf data fetch` from the mirror, then the val split cut to its first documents."""
    from pgolf.bench.proxy import prepare_data

    work = tmp_path_factory.mktemp("entrant")
    assert main(["data", "fetch", "--mirror", str(MINI), "--dest", str(work / "data"), "--train-shards", "1"]) == 0
    dataset, tokenizer = prepare_data(work / "data", work / "cut", 1024, val_tokens=VAL_TOKENS)
    return work, dataset, tokenizer


def _train_seeds(data, seeds: str, run_id: str, *extra: str) -> dict:
    work, dataset, tokenizer = data
    out = _pgolf("-m", "pgolf", "train", "--preset", "tiny", "--seeds", seeds, *extra, "--json", f"run_id={run_id}",
                 f"data_path={dataset}", f"tokenizer_path={tokenizer}", f"out_dir={work / 'runs'}", cwd=work)
    return json.loads(out)


@pytest.fixture(scope="module")
def seeds(data):
    return _train_seeds(data, ",".join(map(str, SEEDS)), "tiny")


@pytest.fixture(scope="module")
def record(data, seeds):
    work = data[0]
    runs = [r["run_dir"] for r in seeds["runs"]]
    code = main(["submit", *runs, "--name", "Tiny Test", "--author", "A. Person", "--github-id", "aperson",
                 "--out", str(work / "records")])
    assert code == 0
    (folder,) = (work / "records").iterdir()
    return folder


def test_seeds_of_one_recipe_share_one_packed_file_and_name_their_seed(seeds):
    runs = [Path(r["run_dir"]) for r in seeds["runs"]]
    assert [r.name for r in runs] == [f"tiny-seed{s}" for s in SEEDS] and seeds["seeds"] == list(SEEDS)
    assert len({(r / "train_gpt.py").read_bytes() for r in runs}) == 1
    bpb = []
    for run, seed in zip(runs, SEEDS):
        log = parse_log(run / "train.log")
        summary = json.loads((run / "summary.json").read_text())
        assert log.seed == seed and json.loads((run / "config.json").read_text())["seed"] == seed
        assert abs(log.val_bpb - summary["val_bpb"]) < 1e-8
        bpb.append(summary["val_bpb"])
    assert len(set(bpb)) == 3  # three independent runs, not one run three times
    assert seeds["mean_bpb"] == pytest.approx(statistics.mean(bpb), abs=1e-12)
    assert seeds["std_bpb"] == pytest.approx(statistics.stdev(bpb), abs=1e-12)
    assert seeds["submit"].startswith("pgolf submit " + " ".join(r["run_dir"] for r in seeds["runs"]))


def test_the_record_folder_passes_check_stats_and_leaderboard(record, data, seeds, reference_root, capsys, tmp_path):
    sub = json.loads((record / "submission.json").read_text())
    assert sub["seeds"] == list(SEEDS) and sub["val_bpb"] == pytest.approx(seeds["mean_bpb"], abs=1e-8)
    # against uniform guessing over the 1024 tokens (10 bits a token), which 6 steps beat by far
    uniform = 10 * seeds["tokens_per_byte"]
    rep = _json_main(capsys, "check", str(record), "--data", str(data[1]), "--sota-bpb", f"{uniform:.5f}")
    status = {v["rule"]: v["status"] for v in rep["rules"]}
    assert rep["ok"] and sorted(rep["seeds"]) == sorted(SEEDS), rep
    assert {r for r, s in status.items() if s != PASS} == NOTHING_TO_CHECK, rep["rules"]
    assert all(status[r] == NA for r in NOTHING_TO_CHECK)

    official = tmp_path / "board" / Path(RECORD_1_0611).name
    shutil.copytree(reference_root / RECORD_1_0611, official)
    st = _json_main(capsys, "stats", str(record), "--against", str(official))
    assert st["n"] == 3 and st["mean_bpb"] == pytest.approx(sub["val_bpb"], abs=1e-8)
    assert st["reference_n"] == 3 and st["reference_bpb"] == pytest.approx(1.0611, abs=1e-4)
    assert st["p_margin_nats"] > 0.99 and st["seeds_needed"] is None  # a tiny run is no record

    shutil.copytree(record, tmp_path / "board" / record.name)
    rows = _json_main(capsys, "leaderboard", str(tmp_path / "board"))
    assert [r["folder"] for r in rows] == [official.name, record.name]
    assert rows[1]["val_bpb"] == pytest.approx(sub["val_bpb"], abs=1e-8) and rows[1]["seeds"] == 3


def _reproduce(folder: Path, seed: int, data, tmp_path: Path, launcher: list[str] | None = None):
    """Run the folder's train_gpt.py from an empty folder (a poisoned `pgolf` on the path)."""
    _, dataset, tokenizer = data
    empty, poison = tmp_path / "empty", tmp_path / "poison" / "pgolf"
    empty.mkdir()
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('the installed package was used')\n")
    env = dict(ENV, SEED=str(seed), RUN_ID="repro", DATA_PATH=str(dataset), TOKENIZER_PATH=str(tokenizer),
               PYTHONPATH=str(poison.parent))
    _pgolf(str(folder / "train_gpt.py"), cwd=empty, env=env, launcher=launcher)
    return parse_log(empty / "runs" / "repro" / "train.log")


def test_the_folders_train_gpt_reproduces_a_seed_from_an_empty_folder(record, data, tmp_path):
    got = _reproduce(record, 42, data, tmp_path)
    want = parse_log(record / "train_seed42.log")
    assert got.seed == 42 and got.steps == want.steps
    assert abs(got.val_bpb - want.val_bpb) <= 1e-8 and abs(got.val_loss - want.val_loss) <= 1e-8, (got, want)


def test_one_seed_under_torchrun_with_two_ranks(data, tmp_path, capsys):
    res = _train_seeds(data, "7", "ddp", "--nproc-per-node", "2")
    run = Path(res["runs"][0]["run_dir"])
    assert "world_size:2" in (run / "train.log").read_text().splitlines()[0]
    assert main(["submit", str(run), "--name", "Tiny DDP", "--author", "A. Person", "--github-id", "aperson",
                 "--out", str(tmp_path / "records")]) == 0
    (folder,) = (tmp_path / "records").iterdir()
    rep = _json_main(capsys, "check", str(folder), "--data", str(data[1]))
    status = {v["rule"]: v["status"] for v in rep["rules"]}
    assert rep["ok"] and {r for r, s in status.items() if s != PASS} == NOTHING_TO_CHECK | {"significance"}, rep
    assert "--nproc_per_node=2 train_gpt.py" in (folder / "README.md").read_text()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    got = _reproduce(folder, 7, data, tmp_path, launcher=torchrun)
    want = parse_log(folder / "train_seed7.log")
    assert abs(got.val_bpb - want.val_bpb) <= 1e-8 and abs(got.val_loss - want.val_loss) <= 1e-8, (got, want)
