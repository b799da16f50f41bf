import json
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import pgolf.data.shards as shards
from pgolf.config import load_config, validate
from pgolf.data.loader import BatchLoader
from pgolf.errors import PgolfError
from pgolf.optim.schedule import train_budget_ms
from pgolf.quant.calibrate import RandomWindows, calibrate, reserve_rule, resolve_reserve
from tests.conftest import HANG_TIMEOUT


def test_reserve_comes_out_of_the_training_clock():
    assert train_budget_ms(load_config("baseline")) == 600_000  # int8_zlib: no reserve
    cfg = load_config("baseline", quant_scheme="gptq", gptq_reserve_seconds=12)
    assert train_budget_ms(cfg) == 588_000
    assert train_budget_ms(cfg.replace(max_wallclock_seconds=0)) == 0
    with pytest.raises(PgolfError, match="leaves no training time"):  # validate refuses it up front
        validate(cfg.replace(gptq_reserve_seconds=600))


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
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), run_id="g",
                      iterations=3, warmdown_iters=2, quant_scheme="gptq", gptq_calib_batches=2,
                      quant_keep_float_numel=1024, lqer_rank=2, lqer_top_k=2, artifact_codecs="zlib,lzma")
    summary = train_and_export(cfg, {}, packed_code, echo=False)
    log = (tmp_path / "g" / "train.log").read_text()
    assert re.search(r"^gptq_calibration batches:2 source:loader time:\d+ms", log, re.M)
    assert re.search(r"^final_gptq_roundtrip_exact val_loss:\S+ val_bpb:\S+$", log, re.M)
    assert abs(summary["val_bpb"] - summary["pre_quant_val_bpb"]) < 0.05
    out = subprocess.run([sys.executable, "-m", "pgolf", "size", str(tmp_path / "g"), "--json"],
                         capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["bytes_model"] == summary["bytes_model"] and res["bytes_code"] == summary["bytes_code"]
    assert any(g["group"] == "lqer.int8" for g in res["groups"])


def _shards(tmp_path, sizes, vocab=1024, seed=0):
    rng = np.random.default_rng(seed)
    for i, n in enumerate(sizes):
        shards.write_shard(tmp_path / f"fineweb_train_{i:06d}.bin", rng.integers(0, vocab, n).astype(np.uint16))
    shards.write_shard(tmp_path / "fineweb_val_000000.bin", rng.integers(0, vocab, 1000).astype(np.uint16))
    return tmp_path


@pytest.mark.parametrize("world", [1, 2])
def test_random_windows_are_the_records_calibration_windows(record_script, tmp_path, world):
    data = _shards(tmp_path, [5000, 3100, 7000])
    seq = 64
    for rank in range(world):
        h = types.SimpleNamespace(world_size=world, rank=rank, train_seq_len=seq,
                                  train_files=str(data / "fineweb_train_*.bin"))
        theirs = record_script.ShuffledSequenceLoader(h, torch.device("cpu"))
        ours = RandomWindows(str(data), rank, world, seq)
        for _ in range(12):  # past the point where a shard runs dry and everything is refilled
            x, y = ours.next_batch(8 * seq, seq, torch.device("cpu"))
            tx, ty = theirs.next_batch(8 * seq * world, 1)
            assert torch.equal(x, tx) and torch.equal(y, ty)
        assert all("fineweb_train_" in f.name for f in ours.files)


def test_random_calibration_reads_train_shards_only(tmp_path, monkeypatch):
    import pgolf

    data = _shards(tmp_path, [4000, 4000])
    cfg = load_config("tiny", data_path=str(data), quant_scheme="gptq", gptq_calib_batches=2,
                      gptq_calib_source="random", quant_keep_float_numel=1024)
    opened = []
    real = np.memmap
    monkeypatch.setattr("pgolf.quant.calibrate.np.memmap", lambda f, *a, **k: opened.append(str(f)) or real(f, *a, **k))
    hs = calibrate(pgolf.build_model(cfg), None, cfg, torch.device("cpu"), 256)
    assert opened and all("fineweb_train_" in p for p in opened)
    assert hs["tok_emb.weight"].shape == (32, 32)  # the tied embedding: from the final-norm outputs


def test_embedding_hessian_comes_from_the_final_norm_outputs():
    import pgolf
    from pgolf.quant.gptq import collect_hessians

    cfg = load_config("tiny", quant_keep_float_numel=0)
    model = pgolf.build_model(cfg)
    x = torch.randint(0, cfg.vocab_size, (3, 16), generator=torch.Generator().manual_seed(0))
    hs = collect_hessians(model, [(x[:2], None), (x[2:], None)], 0)
    with torch.no_grad():
        h = model.eval().hidden(x).reshape(-1, cfg.model_dim)
    torch.testing.assert_close(hs["tok_emb.weight"], h.T @ h / len(h), rtol=1e-4, atol=1e-6)
    assert "blocks.0.mlp.fc.weight" in hs and model.training is False


def test_the_reserve_rule_sizes_the_clock_from_the_measured_batch():
    cfg = load_config("record")
    assert cfg.gptq_reserve_auto and cfg.gptq_reserve_seconds == 0.5
    new, line = reserve_rule(cfg, batch_s=0.3)
    assert new.gptq_reserve_seconds == pytest.approx(0.5 + 1.25 * 16 * 0.3) and not new.gptq_reserve_auto
    assert train_budget_ms(new) == pytest.approx(600_000 - 6_500)
    assert line == ("gptq_reserve:auto one_batch:300.0ms x 16 batches x margin 1.25 + 0.5s = 6.5s "
                    "train_budget:593500ms (rule: train + calibration <= 600s)")
    same, fixed = reserve_rule(cfg.replace(gptq_reserve_auto=False))
    assert same.gptq_reserve_seconds == 0.5 and fixed.startswith("gptq_reserve:fixed 0.5s train_budget:599500ms")
    with pytest.raises(PgolfError, match="leaves no training time"):
        reserve_rule(cfg, batch_s=40.0)  # 16 x 40 s x 1.25 > 600 s


def test_measuring_a_batch_leaves_model_and_loader_alone(small_data):
    import pgolf

    data, _ = small_data
    cfg = load_config("tiny", data_path=str(data), quant_scheme="gptq", quant_keep_float_numel=1024,
                      max_wallclock_seconds=60, gptq_reserve_auto=True)
    model = pgolf.build_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new, line = resolve_reserve(model, cfg, torch.device("cpu"), 512)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    per = float(re.search(r"one_batch:([\d.]+)ms", line).group(1)) / 1000
    assert per > 0 and new.gptq_reserve_seconds == pytest.approx(8.0 + 1.25 * 16 * per, abs=0.01)
    assert resolve_reserve(model, cfg.replace(max_wallclock_seconds=0), torch.device("cpu"), 512) == (cfg.replace(max_wallclock_seconds=0), None)
