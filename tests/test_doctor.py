"""`pgolf doctor`: the machine's checks as JSON, the data verified against its manifest."""

from __future__ import annotations

import json
import shutil

import torch

from pgolf import doctor
from pgolf.cli import main

NAMES = ["python", "platform", "torch", "cuda", "gpu", "bf16", "compile", "flex_attention", "varlen_attention",
         "cpu", "zpaq", "plots", "tensorboard", "wandb", "data", "disk_free_bytes"]


def _doctor(capsys, *args) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}


def test_json_fields_on_the_mini_data(capsys, mini):
    code, checks = _doctor(capsys, "--data", str(mini))
    assert code == 0 and list(checks) == NAMES
    assert all(set(c) == {"name", "status", "value", "hint"} for c in checks.values())
    assert checks["torch"]["value"] == torch.__version__
    gpu = checks["gpu"]["value"]
    assert gpu["count"] == torch.cuda.device_count() and len(gpu["names"]) == gpu["count"]
    if not torch.cuda.is_available():
        assert checks["cuda"]["status"] in ("n/a", "missing") and checks["bf16"]["status"] == "n/a"
    assert checks["cpu"]["value"]["torch_threads"] == torch.get_num_threads()
    data = checks["data"]
    assert data["status"] == "ok" and data["value"]["verified"] and data["value"]["failed"] == []
    assert data["value"]["datasets"]["fineweb10B_sp1024"] == {"val_shards": 1, "train_shards": 2,
                                                             "train_shards_listed": 2, "tokenizer": True}
    assert all(isinstance(v, int) and v > 0 for v in checks["disk_free_bytes"]["value"].values())


def test_a_corrupt_shard_fails_its_sha256(tmp_path, capsys, mini):
    for rel in ("manifest.json", "tokenizers/fineweb_1024_bpe.model", "datasets/fineweb10B_sp1024/fineweb_val_000000.bin"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mini / rel, tmp_path / rel)
    code, checks = _doctor(capsys, "--data", str(tmp_path))
    assert code == 0 and checks["data"]["status"] == "ok"
    assert checks["data"]["value"]["datasets"]["fineweb10B_sp1024"]["train_shards"] == 0  # val is enough to evaluate
    shard = tmp_path / "datasets/fineweb10B_sp1024/fineweb_val_000000.bin"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 1
    shard.write_bytes(bytes(raw))
    code, checks = _doctor(capsys, "--data", str(tmp_path))
    assert code == 1 and checks["data"]["status"] == "bad" and checks["data"]["value"]["failed"] == [str(shard)]
    code, checks = _doctor(capsys, "--data", str(tmp_path), "--no-hash")  # presence only
    assert code == 0 and checks["data"]["status"] == "ok" and not checks["data"]["value"]["verified"]


def test_missing_data_says_how_to_fetch(tmp_path, capsys):
    code, checks = _doctor(capsys, "--data", str(tmp_path / "nowhere"))
    assert code == 0 and checks["data"]["status"] == "missing" and "pgolf data fetch" in checks["data"]["hint"]


def test_zpaq_found_through_lrzip_on_path_or_a_module(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "_has_module", lambda name: False)
    monkeypatch.setenv("PATH", str(tmp_path))
    none = doctor.zpaq_check()
    assert none["status"] == "missing" and "lrzip" in none["hint"]
    fake = tmp_path / "lrzip"
    fake.write_text("#!/bin/sh\necho 'lrzip version 9.9'\n")
    fake.chmod(0o755)
    found = doctor.zpaq_check()
    assert found["status"] == "ok" and found["value"]["lrzip"] == str(fake)
    assert found["value"]["lrzip_version"] == "lrzip version 9.9"
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(doctor, "_has_module", lambda name: name == "zpaq")
    assert doctor.zpaq_check()["value"]["modules"] == ["zpaq"]


def test_text_output_names_every_check(capsys, mini):
    assert main(["doctor", "--data", str(mini), "--no-hash"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines()] == NAMES
