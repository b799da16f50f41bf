"""Record features: each switch is wired, causal and isolates documents. (That every switch off
is the official baseline is checked against the baseline script in test_reference.py.)"""

import pytest
import torch

import pgolf
from pgolf.config import Config, load_config
from pgolf.errors import PgolfError
from pgolf.layout import num_skips, virtual_layers
from pgolf.model.masks import build_mask

# One switch per feature, at tiny dims (2 layers, dim 32, 2 heads of 16, 1 KV head).
FEATURES = {
    "leaky_relu2": dict(mlp_act="leaky_relu2"),
    "loop": dict(loop_start=0, loop_end=1, loop_extra=2),
    "parallel_lanes": dict(parallel_from=1),
    "loop_and_lanes": dict(num_layers=4, loop_start=1, loop_end=2, loop_extra=2, parallel_from=3),
    "skip_gates": dict(unet_skip_gates=True),
    "ln_scale": dict(ln_scale=True),
    "partial_rope": dict(rope_dims=4),
    "xsa": dict(xsa_last_n=1),
    "attn_gate": dict(attn_gate=True, gate_window=8),
    "doc_isolation": dict(doc_isolation=True),
    "window": dict(attn_window=5),
    "smear_gate": dict(smear_gate=True, gate_window=8),
    "orthogonal_init": dict(orthogonal_init=True),
    "bigram": dict(bigram_buckets=64, bigram_dim=16),
    "value_embed": dict(value_embed_last_n=1),
}
# Every feature at once, on 4 layers (the record preset under --smoke).
RECORD_SMOKE = "record"


def _jitter(model):
    # zero-initialised projections would hide mixing across positions: randomise everything
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def _model(preset="tiny", **kw):
    torch.manual_seed(0)
    cfg = load_config(preset, smoke=preset == RECORD_SMOKE, **kw)
    return _jitter(pgolf.build_model(cfg))


def _ids(B=2, T=24, seed=1):
    ids = torch.randint(0, 1024, (B, T), generator=torch.Generator().manual_seed(seed))
    ids[ids == 1] = 2
    ids[:, 0] = 1
    ids[0, 9] = 1
    return ids


@pytest.mark.parametrize("name", list(FEATURES))
def test_each_switch_changes_the_model(name):
    ids = _ids()
    base = _model().forward_logits(ids)
    out = _model(**FEATURES[name]).forward_logits(ids)
    assert not torch.equal(out, base), f"{name} has no effect"


@pytest.mark.parametrize("name", [*FEATURES, RECORD_SMOKE])
def test_strict_causality(name):
    model = _model(RECORD_SMOKE) if name == RECORD_SMOKE else _model(**FEATURES.get(name, {}))
    ids = _ids(B=1, T=20)
    base = model.forward_logits(ids)
    for t in (0, 8, 9, 17):
        pert = ids.clone()
        pert[:, t + 1] = 3 if pert[0, t + 1] != 3 else 4
        out = model.forward_logits(pert)
        assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"{name}: position <= {t} saw token {t + 1}"
        assert not torch.equal(out[:, t + 1], base[:, t + 1])


def _two_docs(seed):
    ids = _ids(B=1, T=24, seed=seed)
    ids[0, 9] = 2
    ids[0, 12] = 1  # document N = positions 0..11, document N+1 = 12..23
    return ids


def _perturb_doc_n(ids):
    """Change every non-BOS token of document N (positions 1..11), its last token included."""
    pert = ids.clone()
    body = (pert[0, 1:12] + 17) % 1024
    pert[0, 1:12] = torch.where(body == 1, 5, body)
    return pert


@pytest.mark.parametrize("kw", [dict(doc_isolation=True, smear_gate=True, gate_window=8, bigram_buckets=64,
                                     bigram_dim=16, value_embed_last_n=2, xsa_last_n=2, attn_gate=True,
                                     attn_window=8),
                                "record"], ids=["tiny_all", "record_smoke"])
def test_document_isolation(kw):
    model = _model(RECORD_SMOKE) if kw == "record" else _model(**kw)
    ids = _two_docs(3)
    base = model.forward_logits(ids)
    pert = _perturb_doc_n(ids)
    out = model.forward_logits(pert)
    assert torch.equal(out[:, 12:], base[:, 12:]), "document N+1 saw document N"
    assert not torch.equal(out[:, 1:12], base[:, 1:12])


def test_without_isolation_documents_do_mix():
    """The isolation test can fail: the same perturbation leaks when the mask is off."""
    model = _model(smear_gate=True, gate_window=8)
    ids = _two_docs(3)
    pert = _perturb_doc_n(ids)
    assert not torch.equal(model.forward_logits(pert)[:, 12:], model.forward_logits(ids)[:, 12:])


def test_masks_match_definition():
    ids = torch.tensor([[1, 5, 6, 1, 7, 8, 9]])
    m = build_mask(ids, True, 2, 1, backend="sdpa")[0, 0]
    for q in range(7):
        for k in range(7):
            same_doc = (q >= 3) == (k >= 3)
            assert bool(m[q, k]) == (k <= q and q - k < 2 and same_doc)
    assert build_mask(ids, False, 0, 1) is None


def test_flex_attention_matches_sdpa_mask_if_available():
    from pgolf.model.masks import attend

    ids = torch.tensor([[1, 5, 6, 1, 7, 8, 9, 1] * 2])
    q, k, v = torch.randn(1, 2, 16, 8), torch.randn(1, 1, 16, 8), torch.randn(1, 1, 16, 8)
    ref = attend(q, k, v, build_mask(ids, True, 0, 1, backend="sdpa"))
    try:
        got = attend(q, k, v, build_mask(ids, True, 0, 1, backend="flex"))
    except Exception as e:  # FlexAttention may not run on this CPU build; the CUDA path is the target
        pytest.skip(f"FlexAttention unavailable here: {type(e).__name__}")
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_virtual_layers_and_skips_follow_the_record_layout():
    # 11 layers, 3..5 looped twice: 17 virtual layers, 8 encoder and 9 decoder steps, 8 skips
    enc, dec = virtual_layers(11, 3, 6, 2, looping=True)
    assert enc == (0, 1, 2, 3, 4, 5, 3, 4) and dec == (5, 3, 4, 5, 6, 7, 8, 9, 10)
    assert virtual_layers(11, 3, 6, 2, looping=False) == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9, 10))
    assert num_skips(load_config("record")) == 8 and num_skips(load_config("baseline")) == 4


def test_depth_recurrence_follows_the_looping_argument_not_the_mode():
    model = _model(**FEATURES["loop"])
    assert not hasattr(model, "loop_active")
    ids = _ids()
    looped = model.forward_logits(ids)  # the default: the looped model
    assert torch.equal(model.forward_logits(ids, looping=True), looped)
    plain = model.forward_logits(ids, looping=False)
    assert not torch.equal(plain, looped)
    model.train()
    assert torch.equal(model.forward_logits(ids), looped)
    assert torch.equal(model.forward_logits(ids, looping=False), plain)
    tgt = torch.roll(ids, -1, 1)
    assert torch.equal(model(ids, tgt, looping=False), model.eval()(ids, tgt, looping=False))
    # without extra passes the argument changes nothing
    flat = _model()
    assert torch.equal(flat.forward_logits(ids, looping=False), flat.forward_logits(ids, looping=True))


def test_unlooped_forward_is_causal_and_isolates_documents():
    model = _model(**FEATURES["loop_and_lanes"], doc_isolation=True)
    ids = _ids()
    base = model.forward_logits(ids, looping=False)
    pert = ids.clone()
    pert[:, 5] = (pert[:, 5] + 1) % 1024  # row 0: inside its first document (BOS at 0 and 9)
    out = model.forward_logits(pert, looping=False)
    assert torch.equal(out[:, :5], base[:, :5])
    assert torch.equal(out[0, 9:], base[0, 9:])
    assert not torch.equal(out[:, 5], base[:, 5])


def test_gradients_reach_every_parameter_of_the_record_model():
    model = _model(RECORD_SMOKE).train()
    ids = _ids(T=32)
    model(ids, torch.roll(ids, -1, 1)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def _skip_rows_with_gradient(loop):
    torch.manual_seed(0)
    cfg = load_config("tiny", num_layers=11, loop_start=3, loop_end=6, loop_extra=2)
    model = _jitter(pgolf.build_model(cfg)).train()
    ids = _ids(T=16)
    model(ids, torch.roll(ids, -1, 1), looping=loop).backward()
    return (model.skip_weights.grad.abs().sum(dim=-1) > 0).tolist()


def test_skips_pair_virtual_layers_when_looping_and_physical_ones_before():
    # the record's layout: the looped sequence uses all 8 skip weights, the plain one the first 5
    assert _skip_rows_with_gradient(True) == [True] * 8
    assert _skip_rows_with_gradient(False) == [True] * 5 + [False] * 3


def test_record_smoke_keeps_every_feature_on():
    cfg = load_config("record", smoke=True)
    assert cfg.model_dim == 32 and cfg.num_layers == 4
    assert 0 <= cfg.loop_start < cfg.loop_end <= 4 and cfg.loop_extra > 0
    assert 0 < cfg.parallel_from < 4 and cfg.xsa_last_n > 0 and 0 < cfg.rope_dims < cfg.head_dim
    assert cfg.doc_isolation and cfg.smear_gate and cfg.attn_gate and cfg.unet_skip_gates and cfg.orthogonal_init
    assert cfg.gate_window == 12 and cfg.vocab_size == 8192 and cfg.bigram_buckets == 0


def test_bad_layer_options_are_one_line_errors():
    with pytest.raises(PgolfError, match="loop layers"):
        load_config("tiny", loop_start=1, loop_end=5, loop_extra=1)
    with pytest.raises(PgolfError, match="parallel_from"):
        load_config("tiny", parallel_from=2)
    with pytest.raises(PgolfError, match="lanes must start in the decoder"):
        load_config("tiny", num_layers=6, loop_start=1, loop_end=4, loop_extra=1, parallel_from=2)
    with pytest.raises(PgolfError, match="lanes must start in the decoder"):
        load_config("tiny", num_layers=6, parallel_from=1)
    with pytest.raises(PgolfError, match="rope_dims"):
        load_config("tiny", rope_dims=3)
    with pytest.raises(PgolfError, match="gate_window"):
        load_config("tiny", gate_window=33)
    with pytest.raises(PgolfError, match="attn_backend"):
        load_config("tiny", attn_backend="flash")
    with pytest.raises(PgolfError, match="rope_dims"):  # also when a model is built from an unchecked Config
        pgolf.build_model(Config(num_layers=2, rope_dims=3))


def test_record_init():
    """Orthogonal Q, K, V and MLP up; zero output projections; N(0, 0.005) tied embedding; the
    attention gate and SmearGate closed-form at init (W = 0, lambda = 0); lanes 1.1 and 1."""
    torch.manual_seed(0)
    cfg = load_config("record", smoke=True, model_dim=64, num_heads=4, num_kv_heads=2)
    model = pgolf.build_model(cfg, "cpu")
    b = model.blocks[1]
    for w in (b.attn.c_q.weight, b.attn.c_k.weight, b.attn.c_v.weight):  # orthonormal rows
        torch.testing.assert_close(w @ w.T, torch.eye(w.size(0)), atol=1e-5, rtol=0)
    w = b.mlp.fc.weight  # (hidden, dim): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(w.size(1)), atol=1e-5, rtol=0)
    assert not b.attn.proj.weight.any() and not b.mlp.proj.weight.any()
    assert model.tok_emb.weight.dtype == torch.float32  # bf16 storage is for CUDA only
    assert abs(model.tok_emb.weight.std().item() - 0.005) < 2e-4
    assert not b.attn.gate.any() and not model.smear.weight.any() and not model.smear.lam.any()
    assert bool((model.lane_resid == 1.1).all()) and bool((model.lane_post == 1.0).all())
    assert not model.skip_gates.any() and bool((model.skip_weights == 1.0).all())
    # the baseline keeps PyTorch's default init: not orthogonal
    w = pgolf.build_model(load_config("tiny", model_dim=64)).blocks[0].attn.c_q.weight
    assert (w @ w.T - torch.eye(64)).abs().max() > 0.1
