"""The pieces of `pgolf bench gpu` that a dry run cannot reach: the official script's side (its
environment variables, its log), the time budget, stopping a child, and `--prepare`."""

import json
import subprocess
import sys
import time
import zipfile
from dataclasses import fields
from pathlib import Path

import pytest

from pgolf.bench import gpu, official
from pgolf.bench.gpu_prepare import (CASEOPS, IMAGE_PACKAGES, OFFICIAL, SP1024, canonical, missing_from_image,
                                     prepare, project_requirements, requirement_name, wheel_requirements)
from pgolf.cli import main
from pgolf.config import Config, load_config, parse_kv
from pgolf.errors import PgolfError
from tests.conftest import REPO
from tests.reference import loader

NAIVE_LOG = "records/track_10min_16mb/2026-03-17_NaiveBaseline/train.log"


def test_parser_reads_the_official_baseline_log(reference_root):
    parsed = official.parse_log((reference_root / NAIVE_LOG).read_text())
    s = official.summarize(parsed)
    assert s["steps"] == 13780 and s["iterations"] == 20000 and s["model_params"] == 17059912
    assert s["val_bpb"] == 1.2172 and s["val_step"] == 13780
    assert s["roundtrip_val_bpb"] == 1.22436570 and s["roundtrip_scheme"] == "int8_zlib"
    assert s["peak_memory_mib"] == 10184 and s["bytes_total"] == 15863489 and s["bytes_model"] == 15815847
    assert s["bytes_code"] == 47642
    assert s["train_loss_step"] == 13750 and s["train_loss"] == 1.9910  # the clock stopped it at 13,780
    assert s["steady"]["from_step"] == 10 and s["steady"]["to_step"] == 13750
    assert s["mean_step_ms"] == pytest.approx(600038 / 13780)
    assert 43.0 < s["steady"]["ms"] < 44.0  # the log's own step_avg is 43.54 ms


def test_same_settings_reach_both_scripts(reference_root, monkeypatch):
    settings = official.shared_settings(20, 3, load_config("baseline", mlp_mult=3.0))
    assert settings["mlp_mult"] == 3.0 and settings["train_batch_tokens"] == 524288
    env = official.official_env(settings, "/data/x", "/tok/y.model", "run1")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ref = loader().load_script(reference_root / "train_gpt.py", name="ref_train_gpt_env_check")
    h = ref.Hyperparameters()  # reads the environment when the class is defined
    for k, v in settings.items():
        assert getattr(h, k) == v, k
    assert (h.data_path, h.tokenizer_path, h.run_id) == ("/data/x", "/tok/y.model", "run1")
    cfg = load_config("baseline", **parse_kv(official.pgolf_overrides(settings)))
    assert {k: getattr(cfg, k) for k in settings} == settings
    assert {f.name for f in fields(Config)} >= set(settings)


def test_compare_ratios_and_steady_window():
    train = [dict(step=s, train_loss=5.0, train_time_ms=100.0 * s + (50 if s > 1 else 0)) for s in (1, 2, 10, 20)]
    assert official.steady_step_ms(train) == dict(ms=100.0, from_step=10, to_step=20)
    assert official.steady_step_ms(train[:3]) is None  # nothing logged after step 10
    a = dict(steady=dict(ms=500.0, from_step=10, to_step=20), val_bpb=3.0, steps=20)
    b = dict(steady=dict(ms=400.0, from_step=10, to_step=20), val_bpb=3.1, steps=20)
    cmp_ = official.compare(a, b)
    assert cmp_["step_time_ratio"] == 1.25 and cmp_["same_window"] and cmp_["same_steps"]
    assert cmp_["val_bpb_delta"] == pytest.approx(0.1)


def test_timeouts_share_what_earlier_phases_left():
    ph = [gpu.Phase(n, b, m, None) for n, b, m in (("a", 10, 5), ("b", 20, 10), ("c", 30, 10))]
    assert gpu.plan_timeout(ph, 0, 60) == 10  # on plan
    assert gpu.plan_timeout(ph, 1, 58) == 28  # 8 s left by "a" go to "b"
    assert gpu.plan_timeout(ph, 2, 45) == 45
    assert gpu.plan_timeout(ph, 0, 30) == 10  # behind plan: still its budget while the minimums fit
    assert gpu.plan_timeout(ph, 0, 22) == 2  # ...never eating into the later phases' minimum 20 s
    assert sum(p.budget_s for p in gpu.PHASES) == gpu.BUDGET_S


def test_a_child_over_its_time_is_stopped_with_its_own_children(tmp_path):
    c = gpu.Check(out_dir=tmp_path, work_dir=tmp_path / "w", data_root=tmp_path, repo=REPO)
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
           "print('started', flush=True); time.sleep(60)"
    t = time.perf_counter()
    ch = c.child([sys.executable, "-c", code], timeout=3)
    assert ch.timed_out and not ch.ok and ch.status() == "timeout" and time.perf_counter() - t < 55  # not the 60 s it sleeps
    assert "started" in ch.output and "started" in c.log_path.read_text()
    ok = c.child([sys.executable, "-c", "print('{\"a\": 1}')"], timeout=30)
    assert ok.ok and gpu.last_json(ok.output) == {"a": 1}


def test_overrides_for_renamed_fields_are_left_out():
    assert gpu.known_overrides(dict(vocab_size=8192, no_such_field=1)) == ["vocab_size=8192"]
    assert gpu.record_config().vocab_size == gpu.RECORD_VOCAB


def test_requirements_and_the_image_list():
    assert requirement_name("zstandard>=0.21") == "zstandard"
    assert requirement_name("Foo_Bar.baz (>=1); python_version < '4'") == "foo-bar-baz"
    assert requirement_name("pytest; extra == 'test'") is None
    names = project_requirements(REPO / "pyproject.toml")
    assert {"torch", "numpy", "sentencepiece", "zstandard"} <= set(names)
    missing = missing_from_image(names)
    assert all(canonical(n) not in IMAGE_PACKAGES for n in missing)
    assert not {"torch", "numpy", "sentencepiece", "tqdm", "huggingface-hub", "pytest"} & set(missing)


def test_wheel_requirements_read_from_metadata(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nRequires-Dist: numpy>=1\n"
                   "Requires-Dist: Some_Lib ; python_version>'3'\nRequires-Dist: pytest ; extra == \"test\"\n")
    assert wheel_requirements(wheel) == ["numpy", "some-lib"]


def _repo_with_ignored_gpu(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    (repo / ".gitignore").write_text("/.gpu/\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def test_prepare_copies_what_the_gpu_run_reads(tmp_path):
    repo = _repo_with_ignored_gpu(tmp_path)
    shared = REPO.parent / "shared"
    dest = repo / ".gpu"
    (dest / "wheels").mkdir(parents=True)
    (dest / "wheels" / "kept-1.0-py3-none-any.whl").write_bytes(b"x" * 10)
    (dest / "stray.bin").write_bytes(b"left from an earlier prepare")
    info = prepare(dest, shared, repo, train_shards=1, wheels=False)
    assert (dest / OFFICIAL).read_bytes() == (loader().extract() / "train_gpt.py").read_bytes()
    sp = dest / SP1024 / "datasets" / "fineweb10B_sp1024"
    assert sorted(p.name for p in sp.iterdir()) == ["fineweb_train_000000.bin", "fineweb_val_000000.bin"]
    assert (dest / SP1024 / "tokenizers" / "fineweb_1024_bpe.model").is_file()
    caseops = next((dest / CASEOPS / "datasets").iterdir())
    assert {p.name for p in caseops.iterdir()} == {p.name for p in (shared / CASEOPS / "datasets" / caseops.name).iterdir()}
    assert not (dest / "stray.bin").exists() and info["wheels"] == ["kept-1.0-py3-none-any.whl"]
    on_disk = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file() and f.name != "prepared.json")
    assert info["carried_bytes"] == on_disk and info["total_bytes"] == on_disk + info["tree_bytes"]
    assert info["total_bytes"] < info["limit_bytes"]
    assert json.loads((dest / "prepared.json").read_text())["commit"] == info["commit"]
    c = gpu.Check(out_dir=tmp_path / "o", work_dir=tmp_path / "w", data_root=dest, repo=REPO)
    assert c.data(SP1024) == (dest / SP1024).resolve()


def test_prepare_refuses_a_folder_git_would_commit(tmp_path, capsys):
    repo = _repo_with_ignored_gpu(tmp_path)
    with pytest.raises(PgolfError, match="not ignored by git"):
        prepare(repo / "elsewhere", REPO.parent / "shared", repo, wheels=False)
    assert main(["bench", "gpu", "--only", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "no such phase" in capsys.readouterr().err


def test_the_device_call_is_one_short_line_written_in_the_script_and_the_docs():
    call = gpu.DEVICE_RUN
    assert len(call["command"]) <= 2000 and call["carry"] == [".gpu"] and call["timeout_s"] <= 600
    assert (REPO / call["command"].split()[-1]).is_file()
    assert call["timeout_s"] > gpu.BUDGET_S + 30  # the budget plus start-up and the log bundle
    for doc in ("bench/gpu_check.sh", "docs/bench.md"):
        assert gpu.device_invocation() in (REPO / doc).read_text(), doc


FAKE_OFFICIAL = '''
import os, pathlib, sys
n, every = int(os.environ["ITERATIONS"]), int(os.environ["TRAIN_LOG_EVERY"])
assert pathlib.Path(os.environ["DATA_PATH"], "fineweb_val_000000.bin").is_file()
assert os.environ["TOKENIZER_PATH"].endswith(".model") and "RANK" not in os.environ
pathlib.Path("logs").mkdir()
print("model_params:17059912")
for s in range(1, n + 1):
    if s <= 10 or s % every == 0:
        print(f"step:{s}/{n} train_loss:{7 - s / 10:.4f} train_time:{100 * s + 40}ms step_avg:{(100 * s + 40) / s:.2f}ms")
print(f"step:{n}/{n} val_loss:5.0000 val_bpb:3.0000 train_time:{100 * n + 40}ms step_avg:1.00ms")
print("peak memory allocated: 10184 MiB reserved: 10200 MiB")
print("final_int8_zlib_roundtrip val_loss:5.1000 val_bpb:3.1000 eval_time:900ms")
'''


def test_the_official_phase_gives_the_script_the_shared_settings_in_its_own_folder(tmp_path):
    """The official script itself needs CUDA; a stand-in that checks its environment and prints
    the official line formats exercises everything around it."""
    root = tmp_path / "gpu"
    (root / OFFICIAL).parent.mkdir(parents=True)
    (root / OFFICIAL).write_text(FAKE_OFFICIAL)
    c = gpu.Check(out_dir=tmp_path / "out", work_dir=tmp_path / "work", data_root=root, repo=REPO)
    c.out_dir.mkdir()
    c.created, c.machine = "2026-01-01T00:00:00+00:00", dict(device="h100", gpu="NVIDIA H100 80GB HBM3", label="t")
    assert gpu.phase_official(c, timeout=60) is None
    doc = c.docs["gpu-side-by-side"]
    o = doc["official"]
    assert o["status"] == "ok" and o["steps"] == gpu.SIDE_STEPS and o["steady"]["ms"] == 100.0
    assert o["environment"]["ITERATIONS"] == str(gpu.SIDE_STEPS) and o["environment"]["MLP_MULT"] == "2"
    assert (c.work_dir / "official" / "logs").is_dir()  # it ran in its own folder, not the checkout
    assert o["roundtrip_val_bpb"] == 3.1 and o["peak_memory_mib"] == 10184
    assert (c.out_dir / "2026-01-01_h100_gpu-side-by-side.json").is_file()


def test_a_failed_phase_does_not_stop_the_next(tmp_path):
    def boom(c, timeout):
        raise RuntimeError("no GPU today")

    seen = []
    phases = [gpu.Phase("a", 10, 1, boom), gpu.Phase("b", 10, 1, lambda c, t: seen.append(t)),
              gpu.Phase("c", 10, 1, lambda c, t: "nothing to do")]
    c = gpu.Check(out_dir=tmp_path / "out", work_dir=tmp_path / "work", data_root=tmp_path, repo=REPO,
                  budget_s=gpu.BUDGET_S)
    summary = gpu.run_check(c, phases)
    assert [(r["name"], r["status"]) for r in summary["phases"]] == [("a", "failed"), ("b", "ok"), ("c", "skipped")]
    assert "no GPU today" in summary["phases"][0]["reason"] and seen
    assert {f.name.split("_", 2)[-1] for f in c.out_dir.iterdir()} >= {"gpu-check.json", "gpu-check.log"}


def test_test_outcomes_from_a_run_cut_short():
    text = ("tests/gpu/test_a.py::test_x[sdpa] PASSED [ 10%]\nnoise\n"
            "tests/gpu/test_b.py::test_y FAILED [ 20%]\ntests/gpu/test_c.py::test_z ")
    assert [(t["name"].split("::")[1], t["outcome"]) for t in gpu.parse_verbose(text)] == [
        ("test_x[sdpa]", "passed"), ("test_y", "failed")]


def test_only_runs_the_chosen_phases_with_the_whole_budget(tmp_path):
    got = {}
    phases = [gpu.Phase("probe", 10, 1, lambda c, t: None), gpu.Phase("a", 100, 1, lambda c, t: None),
              gpu.Phase("b", 50, 1, lambda c, t: got.update(b=t))]
    c = gpu.Check(out_dir=tmp_path / "out", work_dir=tmp_path / "work", data_root=tmp_path, repo=REPO, budget_s=120)
    summary = gpu.run_check(c, phases, only={"b"})
    assert [(r["name"], r["status"]) for r in summary["phases"]] == [("probe", "ok"), ("a", "skipped"), ("b", "ok")]
    assert 100 < got["b"] <= 120  # probe and b share the 120 s: a's budget is not held back
