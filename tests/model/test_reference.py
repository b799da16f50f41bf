"""Our model against the official scripts, same weights in: the 1.0611 record's GPT (through
load_reference_weights, every parameter random, the loop, lanes, gates and document boundaries
on) and the naive baseline's GPT (every record switch off)."""

import pytest
import torch

import pgolf
from pgolf.config import load_config
from pgolf.errors import PgolfError
from pgolf.model.gpt import GPT
from pgolf.data.segments import cu_seqlens

# Two small shapes of the record's model: (record hyperparameters, our Config fields)
SHAPES = {
    "4x64_loop1_lanes3": (
        dict(vocab_size=128, num_layers=4, model_dim=64, num_heads=4, num_kv_heads=2, mlp_mult=2.0, rope_dims=8,
             xsa_last_n=4, num_loops=2, loop_start=1, loop_end=1, parallel_start_layer=3),
        dict(vocab_size=128, num_layers=4, model_dim=64, num_heads=4, num_kv_heads=2, mlp_mult=2.0, rope_dims=8,
             xsa_last_n=4, loop_extra=2, loop_start=1, loop_end=2, parallel_from=3),
    ),
    "6x48_loop23_lanes5_untied": (
        dict(vocab_size=96, num_layers=6, model_dim=48, num_heads=4, num_kv_heads=1, mlp_mult=3.0, rope_dims=4,
             xsa_last_n=3, num_loops=1, loop_start=2, loop_end=3, parallel_start_layer=5, tie_embeddings=False),
        dict(vocab_size=96, num_layers=6, model_dim=48, num_heads=4, num_kv_heads=1, mlp_mult=3.0, rope_dims=4,
             xsa_last_n=3, loop_extra=1, loop_start=2, loop_end=4, parallel_from=5, tie_embeddings=False),
    ),
}
# what both sides share: the record's switches (its log's values), at gate window 12
RECORD_SWITCHES = dict(smear_gate_enabled=True, sparse_attn_gate_enabled=True, sparse_attn_gate_scale=0.5,
                       skip_gates_enabled=True, ln_scale=True, qk_gain_init=5.0, gate_window=12,
                       fused_ce_enabled=False, rope_yarn=False)
OUR_SWITCHES = dict(smear_gate=True, attn_gate=True, attn_gate_scale=0.5, unet_skip_gates=True, ln_scale=True,
                    qk_gain_init=5.0, gate_window=12, mlp_act="leaky_relu2", doc_isolation=True, orthogonal_init=True)
# BOS positions in a row of 32
LAYOUTS = {"none": [], "first": [0], "several": [0, 7, 8, 20], "late": [5, 31]}


@pytest.fixture()
def ref(record_script, monkeypatch):
    monkeypatch.setattr(record_script, "BOS_ID", 1)  # the script sets it when its loader starts
    return record_script


def _pair(ref, shape, seed=0):
    hp, ours = SHAPES[shape]
    h = ref.Hyperparameters()
    for k, v in {**RECORD_SWITCHES, **hp}.items():
        setattr(h, k, v)
    torch.manual_seed(seed)
    r = ref.GPT(h).eval()
    with torch.no_grad():  # every parameter random, the zero-initialised ones too
        for p in r.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model = pgolf.build_model(load_config("baseline", **OUR_SWITCHES, **ours))
    pgolf.load_reference_weights(model, r.state_dict())
    return r, model


def _rows(layouts, vocab, T=32, seed=0):
    ids = torch.randint(2, vocab, (len(layouts), T), generator=torch.Generator().manual_seed(seed))
    for b, layout in enumerate(layouts):
        ids[b, LAYOUTS[layout]] = 1
    return ids


def _ref_logits(ref, r, ids, max_len=0):
    """The script's forward_logits, one packed row at a time, its cu_seqlens from the BOS positions."""
    out = []
    for row in ids:
        bos = (row == 1).nonzero().flatten().tolist()
        cu, longest = ref._build_cu_seqlens(bos, row.numel(), "cpu", max_len, 64)
        out.append(r.forward_logits(row[None], cu_seqlens=cu, max_seqlen=longest))
    return torch.cat(out)


@pytest.mark.parametrize("loop", [True, False], ids=["looped", "unlooped"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_logits_equal_the_record_scripts(ref, shape, loop):
    r, model = _pair(ref, shape)
    r.looping_active = loop
    ids = _rows(list(LAYOUTS), model.cfg.vocab_size)
    with torch.no_grad():
        want = _ref_logits(ref, r, ids)
        got = model.forward_logits(ids, looping=loop)
    assert want.abs().max() > 1.0  # the logits carry signal
    assert (got - want).abs().max().item() <= 1e-4


def test_logits_equal_the_record_scripts_with_its_packed_cu_seqlens(ref):
    """The record's training batches: one packed row, documents cut every max_len tokens."""
    r, model = _pair(ref, "4x64_loop1_lanes3", seed=1)
    r.looping_active = True
    ids = _rows(["several"], model.cfg.vocab_size, T=48)
    cu, longest = cu_seqlens(ids, 1, max_len=12, bucket=64)
    with torch.no_grad():
        want = _ref_logits(ref, r, ids, max_len=12)
        got = model.eval().forward_logits(ids, cu, longest)
        uncut = model.forward_logits(ids)
    assert (got - want).abs().max().item() <= 1e-4
    assert (uncut - want).abs().max().item() > 1e-3  # the cut matters: the test can fail


def test_unbanked_state_dict_loads_the_same(ref):
    r, model = _pair(ref, "4x64_loop1_lanes3")
    other = pgolf.build_model(model.cfg)
    pgolf.load_reference_weights(other, ref._unbank_state_dict(r.state_dict(), 4))
    for (n, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), n


def test_bad_reference_state_dicts_are_one_line_errors(ref):
    r, model = _pair(ref, "4x64_loop1_lanes3")
    sd = r.state_dict()
    cases = {
        "missing smear.lam": {k: v for k, v in sd.items() if k != "smear_lambda"},
        "unknown extra.weight": {**sd, "extra.weight": torch.zeros(3)},
        r"blocks.1.attn.attn_gate_w has shape \(4, 8\)": {**sd, "blocks.1.attn.attn_gate_w": torch.zeros(4, 8)},
        r"qo_bank has shape \(6, 64, 64\)": {**sd, "qo_bank": sd["qo_bank"][:6]},
    }
    for message, bad in cases.items():
        with pytest.raises(PgolfError, match=message) as e:
            pgolf.load_reference_weights(model, bad)
        assert "\n" not in str(e.value)


def test_lane_multipliers_are_skipped_for_a_model_without_lanes(ref):
    r, _ = _pair(ref, "4x64_loop1_lanes3")
    model = pgolf.build_model(load_config("baseline", **OUR_SWITCHES, **{**SHAPES["4x64_loop1_lanes3"][1],
                                                                        "parallel_from": -1}))
    pgolf.load_reference_weights(model, r.state_dict())
    assert model.lane_post is None


def test_parameter_count_at_the_records_config(record_script):
    cfg = load_config("record")
    with torch.device("meta"):
        ours = sum(p.numel() for p in GPT(cfg).parameters())
    h = record_script.Hyperparameters()
    for k, v in dict(smear_gate_enabled=True, sparse_attn_gate_enabled=True).items():
        setattr(h, k, v)
    with torch.device("meta"):
        theirs = sum(p.numel() for p in record_script.GPT(h).parameters())
    assert ours == theirs == 35_945_671  # the record's log: model_params:35945671


@pytest.mark.parametrize("tied", [True, False])
def test_every_switch_off_is_the_official_baseline(baseline_script, tied):
    """Same weights -> same loss as the official root train_gpt.py, at small dims."""
    dims = dict(vocab_size=64, num_layers=5, model_dim=32, num_heads=4, num_kv_heads=2)
    torch.manual_seed(0)
    b = baseline_script.GPT(mlp_mult=2, tie_embeddings=tied, tied_embed_init_std=0.005, logit_softcap=30.0,
                            rope_base=10000.0, qk_gain_init=1.5, **dims)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model = pgolf.build_model(load_config("baseline", tie_embeddings=tied, **dims))
    model.load_state_dict(b.state_dict(), strict=True)
    g = torch.Generator().manual_seed(1)
    for T in (16, 40):
        ids, tgt = torch.randint(0, 64, (3, T), generator=g), torch.randint(0, 64, (3, T), generator=g)
        with torch.no_grad():
            want, got = b(ids, tgt), model(ids, tgt)
        assert abs(got.item() - want.item()) <= 1e-5, (got.item(), want.item())
