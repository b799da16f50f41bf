import json
import re
import subprocess
import sys

import pytest
import torch

import pgolf.data.shards as shards
from pgolf.config import load_config
from pgolf.data.loader import BatchLoader
from pgolf.errors import PgolfError
from pgolf.quant.calibrate import calibrate, train_budget_ms
from tests.conftest import HANG_TIMEOUT


def test_reserve_comes_out_of_the_training_clock():
    assert train_budget_ms(load_config("baseline")) == 600_000  # int8_zlib: no reserve
    cfg = load_config("baseline", quant_scheme="gptq", gptq_reserve_seconds=12)
    assert train_budget_ms(cfg) == 588_000
    assert train_budget_ms(cfg.replace(max_wallclock_seconds=0)) == 0
    with pytest.raises(PgolfError, match="leaves no training time"):
        train_budget_ms(cfg.replace(gptq_reserve_seconds=600))


def test_calibration_reads_training_shards_only(small_data, monkeypatch):
    import pgolf

    data, _ = small_data
    cfg = load_config("tiny", data_path=str(data), quant_scheme="gptq", gptq_calib_batches=3,
                      quant_keep_float_numel=1024)
    loader = BatchLoader(cfg.data_path, 0, 1, cfg.vocab_size)
    opened = []
    real = shards.read_shard
    monkeypatch.setattr("pgolf.data.loader.read_shard", lambda p, v=None: opened.append(str(p)) or real(p, v))
    loader.reset()
    model = pgolf.build_model(cfg)
    hs = calibrate(model, loader, cfg, torch.device("cpu"), 512)
    assert opened and all("fineweb_train_" in p for p in opened)
    assert "blocks.0.mlp.fc.weight" in hs and hs["blocks.0.mlp.fc.weight"].shape == (32, 32)
    assert "blocks.0.attn.c_q.weight" not in hs  # 32x32 = 1024: passthrough, no Hessian needed
    assert calibrate(model, loader, cfg.replace(quant_scheme="rtn"), torch.device("cpu"), 512) is None


def test_gptq_run_end_to_end_and_size_command(small_data, tmp_path):
    from pgolf.train.loop import train

    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), run_id="g",
                      iterations=3, warmdown_iters=2, quant_scheme="gptq", gptq_calib_batches=2,
                      quant_keep_float_numel=1024, lqer_rank=2, lqer_top_k=2, artifact_codecs="zlib,lzma")
    summary = train(cfg, {}, echo=False)
    log = (tmp_path / "g" / "train.log").read_text()
    assert re.search(r"^gptq_calibration batches:2 time:\d+ms", log, re.M)
    assert re.search(r"^final_gptq_roundtrip_exact val_loss:\S+ val_bpb:\S+$", log, re.M)
    assert abs(summary["val_bpb"] - summary["pre_quant_val_bpb"]) < 0.05
    out = subprocess.run([sys.executable, "-m", "pgolf", "size", str(tmp_path / "g"), "--json"],
                         capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["bytes_model"] == summary["bytes_model"] and res["bytes_code"] == summary["bytes_code"]
    assert any(g["group"] == "lqer.int8" for g in res["groups"])
