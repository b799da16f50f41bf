"""The record's export against its own train_gpt.py: same weights and Hessians give the same
dequantized weights (GPTQ int6 per role, the embedding by GPTQ at int7, int8 gates, fp16
passthrough, asymmetric LQER), and our per-group container spends no more than 0.5 % over the
bytes of the record's ``pergroup`` compressor on the same symbols."""

import types

import pytest
import torch

from pgolf.artifact import grouped
from pgolf.config import load_config
from pgolf.quant.quantize import dequantize_state_dict
from pgolf.quant.scheme import quantize_for_export

LAYERS, ROWS, COLS = 2, 520, 128  # 520 x 128 > 65,536 values (the record's passthrough bound); 4 x 128 = 8 groups of 64
MODULES = ("attn.c_q", "attn.c_k", "attn.c_v", "attn.proj", "mlp.fc", "mlp.proj")

# The record's export hyperparameters (its train_seed42.log), as its functions read them.
RECORD_H = types.SimpleNamespace(
    matrix_bits=6, embed_bits=7, matrix_clip_sigmas=12.85, attn_clip_sigmas=13.0, mlp_clip_sigmas=11.5,
    embed_clip_sigmas=14.0, gated_attn_quant_gate=True, lqer_enabled=True, lqer_rank=4, lqer_top_k=3,
    lqer_factor_bits=4, lqer_asym_enabled=True, lqer_asym_group=64)


def _state(rows, cols, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {"tok_emb.weight": torch.randn(rows, cols, generator=g) * 0.05}
    for i in range(LAYERS):
        for name in MODULES:
            spread = 1 + torch.rand(rows, 1, generator=g)  # rows of different scale
            state[f"blocks.{i}.{name}.weight"] = torch.randn(rows, cols, generator=g) * 0.03 * spread
        state[f"blocks.{i}.attn.attn_gate_w"] = torch.randn(8, 12, generator=g) * 0.1  # the record's gate name
        state[f"blocks.{i}.attn_scale"] = torch.rand(cols, generator=g)
        state[f"blocks.{i}.attn.q_gain"] = torch.full((8,), 5.0)
    return state


def _hessians(state, seed=1):
    g, out = torch.Generator().manual_seed(seed), {}
    for name, w in state.items():
        if w.ndim == 2 and w.numel() > 65536:
            cols = w.shape[1]
            mix = torch.eye(cols) + torch.randn(cols, cols, generator=g) / cols**0.5  # correlated inputs
            x = torch.randn(512, cols, generator=g) @ mix * torch.linspace(0.3, 2.0, cols)
            out[name] = x.T @ x / len(x)
    return out


@pytest.fixture(scope="module")
def exported(record_script):
    state = _state(ROWS, COLS)
    hessians = _hessians(state)
    result, meta = record_script.gptq_mixed_quantize(state, hessians, RECORD_H)
    cfg = load_config("record")
    return state, hessians, (result, meta), cfg, quantize_for_export(state, cfg, hessians)


def test_dequantized_weights_equal_the_records(exported, record_script):
    state, _, (result, meta), _, ours = exported
    theirs = record_script.dequantize_mixed(result, meta, state)
    mine = dequantize_state_dict(ours)
    assert set(mine) == set(theirs) == set(state)
    for name in state:
        torch.testing.assert_close(mine[name], theirs[name], rtol=0, atol=0, msg=name)
    kinds = {n: meta[n] for n in state}
    assert kinds["tok_emb.weight"].startswith("gptq (int7)") and ours["tok_emb.weight"].bits == 7
    assert kinds["blocks.0.attn.attn_gate_w"] == "gate_int8_row" and ours["blocks.0.attn.attn_gate_w"].bits == 8
    assert {n for n, k in kinds.items() if "lqer_asym" in k} == {n.removesuffix(".lqer_a") for n in ours if n.endswith(".lqer_a")}
    assert ours[next(n for n in ours if n.endswith(".lqer_a"))].bits == 2
    # the int6 symbols themselves, not just their products with the scales
    for i in range(LAYERS):
        name = f"blocks.{i}.mlp.fc.weight"
        assert torch.equal(torch.from_numpy(ours[name].data.astype("int8")), result[name + ".q"])


def test_symmetric_lqer_stays_a_choice(exported):
    from pgolf.quant.lqer import corrections

    state, hessians, _, cfg, ours = exported
    plain = {n: q for n, q in ours.items() if not n.endswith((".lqer_a", ".lqer_b"))}
    sym = corrections(state, plain, hessians, cfg.replace(lqer_mode="sym", lqer_bits=8))
    a = [n for n in sym if n.endswith(".lqer_a")]
    assert len(a) == 3 and all(sym[n].kind == "intk_rows" and sym[n].bits == 8 for n in a)


def test_per_group_bytes_within_half_a_percent_of_the_records(record_script, lrzip, tmp_path):
    from tests.reference import record_quant_result

    cfg = load_config("record", quant_keep_float_numel=1024)  # small matrices, so the test stays fast
    ours = quantize_for_export(_state(128, 64, seed=3), cfg)
    result, meta = record_quant_result(ours)
    streams = record_script._unpack_streams(record_script._serialize_pergroup(result, meta, LAYERS, str(tmp_path)))
    theirs = dict(zip(record_script._GROUP_ORDER, map(len, streams)))
    _, table = grouped.encode(ours, cfg.to_dict(), cfg.artifact_codecs, grouped.Layout.of(cfg.to_dict()))
    mine = {t["name"]: t for t in table}
    pairs = {"_tok_emb.weight.q": "tok_emb.weight.int7", **{f"{m}.weight.q": f"{m}.weight.int6" for m in MODULES}}
    for rec_group, our_group in pairs.items():
        assert mine[our_group]["compressed"] <= 1.005 * theirs[rec_group], (our_group, mine[our_group], theirs[rec_group])
    # with the sorted rows' permutations (order-sensitive on these few random rows: a few % either way)
    ours_total = sum(mine[g]["compressed"] for g in pairs.values()) + mine["perm"]["compressed"]
    assert ours_total <= 1.005 * (sum(theirs[g] for g in pairs) + len(streams[-1]))
    # lrzip alone (the record's codec for these groups): the same program on the same bytes
    _, table = grouped.encode(ours, cfg.to_dict(), "lrzip", grouped.Layout.of(cfg.to_dict()))
    lrz = {t["name"]: t["compressed"] for t in table}
    assert all(abs(lrz[g] - theirs[r]) <= 0.005 * theirs[r] for r, g in pairs.items()), (lrz, theirs)


def test_a_tiny_run_with_the_record_export(small_data, tmp_path, lrzip):
    """The record preset's export settings end to end: measured reserve, random calibration
    windows, GPTQ int6/int7, asymmetric LQER, lrzip groups, then the round trip scores."""
    import json
    import re

    from pgolf.artifact.codecs import requirements
    from pgolf.artifact.container import read_artifact
    from pgolf.config import PRESETS
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    data, tok = small_data
    export = {k: v for k, v in PRESETS["record"].items() if k.startswith(("quant_", "gptq_", "lqer_", "artifact_"))}
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), run_id="r",
                      max_wallclock_seconds=300, **dict(export, quant_keep_float_numel=1024, gptq_calib_batches=2))
    summary = train_and_export(cfg, {}, packed_code, echo=False)
    run = tmp_path / "r"
    log = (run / "train.log").read_text()
    m = re.search(r"^gptq_reserve:auto one_batch:\S+ms x 2 batches x margin 1.25 \+ 0.5s = ([\d.]+)s "
                  r"train_budget:(\d+)ms \(rule: train \+ calibration <= 300s\)$", log, re.M)
    assert m, log
    saved = json.loads((run / "config.json").read_text())
    assert saved["gptq_reserve_seconds"] == float(m.group(1)) and saved["gptq_reserve_auto"] is False
    assert int(m.group(2)) == round(300_000 - 1000 * saved["gptq_reserve_seconds"])
    assert re.search(r"^gptq_calibration batches:2 source:random time:\d+ms", log, re.M)
    qstate, config = read_artifact(run / "model.pgolf")
    assert qstate["tok_emb.weight"].bits == 7 and qstate["blocks.0.mlp.fc.weight"].bits == 6
    assert sum(n.endswith(".lqer_a") for n in qstate) == 3 and config["artifact_group_by"] == "module"
    assert abs(summary["val_bpb"] - summary["pre_quant_val_bpb"]) < 0.05
    assert requirements(config) == ["brotli", "# system: apt-get install -y lrzip"]
