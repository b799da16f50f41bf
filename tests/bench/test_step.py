"""`bench step` on CPU with the tiny preset, the FLOP count, and the device-peak table."""

import json

import pytest
import torch

from pgolf.bench.step import device_peak, flops_per_token
from pgolf.cli import main
from pgolf.config import load_config
from pgolf.model import build_model
from tests.conftest import MINI


def expected_matmul(cfg):
    d, hd = cfg.model_dim, cfg.model_dim // cfg.num_heads
    kv, hidden = cfg.num_kv_heads * hd, int(cfg.mlp_mult * d)
    per_layer = 2 * d * d + 2 * d * kv + 2 * d * hidden  # q, out; k, v; fc, proj
    return cfg.num_layers * per_layer + cfg.vocab_size * d  # + the output head


@pytest.mark.parametrize("tied", [True, False])
def test_flops_formula(tied):
    cfg = load_config("tiny", tie_embeddings=tied)
    f = flops_per_token(build_model(cfg), cfg)
    assert f["matmul_params"] == expected_matmul(cfg)
    attention = 6 * cfg.num_layers * cfg.model_dim * (cfg.train_seq_len + 1)
    assert f["attention_flops_per_token"] == attention
    assert f["flops_per_token"] == 6 * expected_matmul(cfg) + attention


def test_peaks(monkeypatch):
    assert device_peak(torch.device("cpu"))[0] is None
    assert device_peak(torch.device("cpu"), 2.0)[0] == 2e12
    for name, tflops in [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                         ("NVIDIA H200", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0), ("Some GPU", None)]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None, n=name: n)
        peak, source = device_peak(torch.device("cuda", 0))
        assert peak == (None if tflops is None else tflops * 1e12), name
        assert name in source


def test_step_json_and_saved_result(tmp_path, capsys):
    results = tmp_path / "bench" / "results"
    args = ["bench", "step", "--preset", "tiny", "--warmup", "1", "--steps", "3", "--data", str(MINI),
            "--json", "--save", "--results-dir", str(results), "--peak-tflops", "0.5"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = doc["result"]
    assert doc["kind"] == "step" and doc["preset"] == "tiny" and doc["machine"]["device"] == "cpu"
    assert doc["command"].startswith("pgolf bench step --preset tiny") and doc["commit"]
    assert doc["machine"]["torch"] == torch.__version__
    assert r["timed_steps"] == 3 and r["step_ms"] > 0 and r["step_ms_min"] <= r["step_ms_median"] <= r["step_ms_max"]
    assert r["tokens_per_s"] == pytest.approx(1024 / (r["step_ms"] / 1000))
    assert r["mfu"] == pytest.approx(r["flops_per_token"] * r["tokens_per_s"] / 0.5e12)
    assert r["peak_memory_bytes"] > 0 and r["params"] > r["matmul_params"] - 1024 * 32
    assert doc["projection"] is None  # CPU: no projection
    saved = list(results.glob("*_cpu_step-tiny.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["result"]["step_ms"] == r["step_ms"]
    readme = (results.parent / "README.md").read_text()
    assert "## cpu" in readme and "| tiny |" in readme


def test_step_text_and_errors(capsys):
    assert main(["bench", "step", "--preset", "tiny", "--warmup", "1", "--steps", "1", "--data", str(MINI)]) == 0
    out = capsys.readouterr().out
    assert "ms/step" in out and "MFU n/a" in out and "only from a GPU measurement" in out
    assert main(["bench", "step", "--preset", "tiny", "--steps", "0", "--data", str(MINI)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf: error:") and err.count("\n") == 1
