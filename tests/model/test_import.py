"""`pgolf import`: a record folder (log + the script's own state dict) becomes a run folder whose
checkpoint gives the script's logits."""

import json
import re

import pytest
import torch

from pgolf.cli import main
from pgolf.config import Config
from pgolf.model import build_model
from tests.reference import RECORD_1_0611

# small dims, written into a copy of the record's own dump (every other key as the record ran)
SMALL = dict(vocab_size=128, num_layers=4, model_dim=64, num_heads=4, num_kv_heads=2, mlp_mult=2.0, rope_dims=8,
             xsa_last_n=4, num_loops=2, loop_start=1, loop_end=1, parallel_start_layer=3)


@pytest.fixture()
def small_record(reference_root, record_script, tmp_path, monkeypatch):
    """A record folder at small dims: its log's dump edited, final_model.pt from the script's GPT."""
    monkeypatch.setattr(record_script, "BOS_ID", 1)
    h = record_script.Hyperparameters()
    for k, v in dict(SMALL, smear_gate_enabled=True, sparse_attn_gate_enabled=True, sparse_attn_gate_scale=0.5,
                     fused_ce_enabled=False).items():
        setattr(h, k, v)
    torch.manual_seed(0)
    ref = record_script.GPT(h).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    text = (reference_root / RECORD_1_0611 / "train_seed42.log").read_text()
    for k, v in SMALL.items():
        text = re.sub(rf"^  {k}: .*$", f"  {k}: {v}", text, flags=re.M)
    n = sum(p.numel() for p in ref.parameters())
    text = re.sub(r"^model_params:\d+$", f"model_params:{n}", text, flags=re.M)
    folder = tmp_path / "2026-04-27_small_record"
    folder.mkdir()
    (folder / "train_seed42.log").write_text(text)
    torch.save(ref.state_dict(), folder / "final_model.pt")
    return folder, ref, record_script


def test_import_with_checkpoint_gives_the_scripts_logits(small_record, tmp_path, capsys):
    folder, ref, script = small_record
    out = tmp_path / "runs" / "small"
    assert main(["import", str(folder), "--checkpoint", "final_model.pt", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "not yet mapped" not in printed  # every key of the dump has a Config field
    cfg = Config.load(out / "config.json")
    assert (cfg.num_layers, cfg.loop_end, cfg.parallel_from, cfg.run_id) == (4, 2, 3, "small")
    report = json.loads((out / "import.json").read_text())
    assert report["params"] == sum(p.numel() for p in ref.parameters()) and not report["unknown"]
    blob = torch.load(out / "checkpoint.pt", weights_only=True)
    assert blob["config"] == cfg.to_dict()
    model = build_model(cfg).eval()
    model.load_state_dict(blob["model"], strict=True)
    ids = torch.randint(2, 128, (1, 40), generator=torch.Generator().manual_seed(3))
    ids[0, [0, 9, 10, 30]] = 1
    cu, longest = script._build_cu_seqlens([0, 9, 10, 30], 40, "cpu", 0, 64)
    ref.looping_active = True
    with torch.no_grad():
        assert (model.forward_logits(ids) - ref.forward_logits(ids, cu_seqlens=cu, max_seqlen=longest)).abs().max() <= 1e-4


def test_import_without_checkpoint_writes_the_config_alone(small_record, tmp_path, capsys):
    folder, _, _ = small_record
    out = tmp_path / "cfg_only"
    assert main(["import", str(folder), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "import.json"]
    assert report["files"] == ["config.json", "import.json"] and report["mapped"]["loop_end"] == "loop_end"
    # a second import into the same folder needs --force
    assert main(["import", str(folder), "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["import", str(folder), "--out", str(out), "--force"]) == 0


def test_import_refuses_what_it_cannot_map(small_record, tmp_path, capsys):
    folder, ref, _ = small_record
    log = folder / "train_seed42.log"
    text = log.read_text()
    log.write_text(re.sub(r"^model_params:\d+$", "model_params:123", text, flags=re.M))
    assert main(["import", str(folder), "--out", str(tmp_path / "a")]) == 2
    assert "123 parameters" in capsys.readouterr().err
    log.write_text(text)
    sd = ref.state_dict()
    del sd["smear_lambda"]
    torch.save(sd, folder / "broken.pt")
    assert main(["import", str(folder), "--checkpoint", "broken.pt", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "missing smear.lam" in err and err.count("\n") == 1
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
