"""init_weights: the whole initialisation, one function. The baseline's against the official
script's from the same seed; the draws do not depend on which optional modules exist."""

import pytest
import torch
from torch import nn

import pgolf
from pgolf.config import load_config
from pgolf.model.init import init_weights

DIMS = dict(vocab_size=64, num_layers=5, model_dim=32, num_heads=4, num_kv_heads=2)


@pytest.mark.parametrize("tied", [True, False])
def test_the_baseline_starts_at_the_official_scripts_weights(baseline_script, tied):
    torch.manual_seed(3)
    b = baseline_script.GPT(mlp_mult=2, tie_embeddings=tied, tied_embed_init_std=0.005, logit_softcap=30.0,
                            rope_base=10000.0, qk_gain_init=1.5, **DIMS)
    theirs_next = torch.rand(4)  # where the script leaves the RNG
    torch.manual_seed(3)
    model = pgolf.build_model(load_config("baseline", tie_embeddings=tied, **DIMS))
    assert torch.equal(torch.rand(4), theirs_next)
    ours, want = model.state_dict(), b.state_dict()
    assert ours.keys() == want.keys()
    for name in want:
        assert torch.equal(ours[name], want[name]), name
    assert ours["blocks.0.attn.c_q.weight"].std() > 0.05  # the draws are there: the test can fail


def _record(**kw):
    torch.manual_seed(0)
    return pgolf.build_model(load_config("record", smoke=True, **kw))


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    a, b = _record(), _record()
    for (n, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), n
    g = torch.Generator().manual_seed(1)
    init_weights(b, g)
    assert not torch.equal(a.blocks[0].attn.c_q.weight, b.blocks[0].attn.c_q.weight)
    init_weights(b, torch.Generator().manual_seed(1))  # an explicit generator: reproducible too
    c = _record()
    init_weights(c, torch.Generator().manual_seed(1))
    for (n, x), (_, y) in zip(b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(x, y), n


def test_optional_modules_leave_the_other_parameters_init_unchanged():
    base = _record().state_dict()
    for extra in (dict(bigram_buckets=64, bigram_dim=16), dict(value_embed_last_n=2),
                  dict(bigram_buckets=64, bigram_dim=16, value_embed_last_n=2)):
        with_extra = _record(**extra).state_dict()
        assert set(with_extra) > set(base)
        for name, t in base.items():
            assert torch.equal(with_extra[name], t), (extra, name)
    # the value embedding is drawn before BigramHash: BigramHash leaves it unchanged too
    ve = _record(value_embed_last_n=2).value_embed.table.weight
    assert torch.equal(_record(value_embed_last_n=2, bigram_buckets=64, bigram_dim=16).value_embed.table.weight, ve)


def test_record_constants_and_tables():
    model = _record(bigram_buckets=64, bigram_dim=16, value_embed_last_n=2)
    cfg = model.cfg
    b = model.blocks[-1]
    assert bool((b.attn.q_gain == cfg.qk_gain_init).all()) and bool((b.attn.ve_gain == 1).all())
    assert bool((b.attn_scale == 1).all()) and bool((b.mlp_scale == 1).all())
    assert bool((b.resid_mix[0] == 1).all()) and not b.resid_mix[1].any()
    assert not model.bigram.proj.weight.any()
    for table in (model.bigram.table.weight, model.value_embed.table.weight):
        assert abs(table.std().item() - 0.02) < 2e-3


def test_a_parameter_without_a_rule_is_an_error():
    model = _record()
    model.blocks[0].extra = nn.Parameter(torch.zeros(3))
    with pytest.raises(RuntimeError, match="blocks.0.extra"):
        init_weights(model)


def test_a_freshly_initialised_model_is_causal():
    model = _record(bigram_buckets=64, bigram_dim=16, value_embed_last_n=2).eval()
    init_weights(model)
    with torch.no_grad():  # zero projections would hide mixing: draw them too
        for b in model.blocks:
            for w in (b.attn.proj.weight, b.mlp.proj.weight):
                w.normal_(std=0.05)
        model.bigram.proj.weight.normal_(std=0.05)
    ids = torch.randint(2, 8192, (2, 24), generator=torch.Generator().manual_seed(0))
    pert = ids.clone()
    pert[:, 10] = (pert[:, 10] + 1) % 8192
    base, out = model.forward_logits(ids), model.forward_logits(pert)
    assert torch.equal(out[:, :10], base[:, :10]) and not torch.equal(out[:, 10], base[:, 10])
