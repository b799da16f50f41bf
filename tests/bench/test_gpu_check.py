"""`bench/gpu_check.sh --dry-run`: every phase of the GPU run, on the CPU with tiny dims, through the
same shell wrapper, commands, parsers and result files as on a GPU; then `--collect` into a
results folder and the README built from it. The dry run runs once for the whole module."""

import json
import os
import re
import subprocess
import sys

import pytest

from pgolf.bench.gpu import PHASES, collect
from pgolf.bench.results import render_readme
from pgolf.errors import PgolfError
from tests.conftest import REPO


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-dry")
    out, work = root / "out", root / "work"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    env.pop("OUT", None)
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run", "--out", str(out),
                           "--work", str(work)], capture_output=True, text=True, env=env, timeout=900)
    docs = {p.name.split("_", 2)[2].removesuffix(".json"): json.loads(p.read_text()) for p in out.glob("*.json")}
    return proc, out, docs


def test_every_phase_runs_and_only_the_official_script_is_skipped(dry_run):
    proc, out, docs = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    phases = docs["gpu-check"]["phases"]
    assert [r["name"] for r in phases] == [p.name for p in PHASES]
    assert {r["name"]: r["status"] for r in phases if r["status"] != "ok"} == {"official": "skipped"}
    assert "needs CUDA" in next(r["reason"] for r in phases if r["name"] == "official")
    assert docs["gpu-check"]["dry_run"] and docs["gpu-check"]["machine"]["device"] == "cpu"
    assert "probe" in docs["gpu-check"] and docs["gpu-check"]["probe"]["matmul"]["tflops"] > 0
    assert "size" in proc.stdout and "bench/README.md after" in proc.stdout  # the summary printed last


def test_results_fit_what_the_device_tool_brings_back(dry_run):
    _, out, _ = dry_run
    files = list(out.iterdir())
    assert len(files) <= 8 and all(f.is_file() for f in files)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f.name) for f in files)
    assert all(f.stat().st_size < 16 * 2**20 for f in files)
    assert {"gpu-check.log", "gpu-logs.tar.gz"} <= {f.name for f in files}


def test_each_measurement_is_a_result_file(dry_run):
    _, _, docs = dry_run
    assert set(docs) == {"gpu-check", "gpu-tests", "step-record", "step-baseline", "gpu-side-by-side",
                         "gpu-record-run"}
    for doc in docs.values():
        assert doc["dry_run"] is True and doc["commit"] and doc["created"][:2] == "20"
        for key in ("torch", "cuda", "device", "label"):
            assert key in doc["machine"]
    tests = docs["gpu-tests"]
    assert tests["counts"]["skipped"] == len(tests["tests"]) > 0  # no CUDA here: every GPU test skips
    assert all(t["name"].startswith("tests.gpu.") for t in tests["tests"])
    for preset in ("record", "baseline"):
        step = docs[f"step-{preset}"]
        assert step["kind"] == "step" and step["preset"] == preset and step["result"]["step_ms"] > 0
    assert "vocab_size=8192" in docs["step-record"]["overrides"]
    ours = docs["gpu-side-by-side"]["pgolf"]
    assert ours["status"] == "ok" and ours["steps"] == docs["gpu-side-by-side"]["settings"]["iterations"]
    assert ours["steady"]["ms"] > 0 and ours["roundtrip_val_bpb"] > 0
    rec, size = docs["gpu-record-run"]["result"], docs["gpu-record-run"]["size"]
    assert rec["status"] == "ok" and rec["bytes_total"] == rec["bytes_model"] + rec["bytes_code"]
    assert size["bytes_model"] == rec["bytes_model"] and size["predicted_bytes"] > 0


def test_collect_refuses_a_dry_run_then_builds_the_readme(dry_run, tmp_path):
    _, out, docs = dry_run
    with pytest.raises(PgolfError, match="dry run"):
        collect(out, tmp_path / "results")
    paths = collect(out, tmp_path / "results", allow_dry_run=True)
    assert sorted(p.name for p in paths) == sorted(p.name for p in out.glob("*.json"))
    readme = (tmp_path / "README.md").read_text()
    assert readme == render_readme(tmp_path / "results")
    assert "## Anchors" in readme and "524.8 ms" in readme and "4,932 steps" in readme
    assert "### GPU check" in readme and "dry run: not a measurement" in readme
    assert "| pgolf train --preset baseline |" in readme and "skipped: the official train_gpt.py needs CUDA" in readme
    assert f"{docs['gpu-record-run']['result']['bytes_total']:,}" in readme


def test_collect_measures_the_size_from_the_returned_artifact(dry_run, tmp_path):
    _, out, docs = dry_run
    src = tmp_path / "src"
    src.mkdir()
    for f in out.iterdir():
        (src / f.name).write_bytes(f.read_bytes())
    name = next(f.name for f in src.glob("*_gpu-record-run.json"))
    doc = json.loads((src / name).read_text())
    doc["size"] = None  # as when the size phase had no time left
    (src / name).write_text(json.dumps(doc))
    collect(src, tmp_path / "results", allow_dry_run=True)
    size = json.loads((tmp_path / "results" / name).read_text())["size"]
    assert size["predicted_bytes"] == docs["gpu-record-run"]["size"]["predicted_bytes"]
    assert size["bytes_model"] == docs["gpu-record-run"]["result"]["bytes_model"]
    assert "collecting machine" in size["where"]
