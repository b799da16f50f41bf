"""The baseline's optimizer split: Muon gets the block matrices, Adam everything else."""

from __future__ import annotations

import pytest
import torch

from pgolf import build_model, load_config
from pgolf.errors import PgolfError
from pgolf.optim.build import claims, param_groups


def test_baseline_groups_match_the_official_split():
    model = build_model(load_config("baseline"))
    groups = param_groups(model)
    names = {id(p): n for n, p in model.named_parameters()}
    matrix = {names[id(p)] for p in groups["matrix"]}
    scalar = {names[id(p)] for p in groups["scalar"]}
    assert all(n.startswith("blocks.") and n.endswith(".weight") for n in matrix)
    assert len(matrix) == 9 * 6  # q, k, v, proj, fc, mlp proj in each of 9 blocks
    assert "blocks.0.resid_mix" in scalar and "blocks.0.attn.q_gain" in scalar
    assert [names[id(p)] for p in groups["embed"]] == ["tok_emb.weight"] and not groups["head"]
    assert sum(p.numel() for g in groups.values() for p in g) == 17_059_912


def _claimed_once(model) -> dict[str, str]:
    """{parameter name: its group}, checking that the groups hold every parameter exactly once."""
    groups = param_groups(model)
    seen = [id(p) for g in groups.values() for p in g]
    assert len(seen) == len(set(seen)), "a parameter is in two groups"
    by_id = {id(p): g for g, ps in groups.items() for p in ps}
    named = dict(model.named_parameters())
    assert set(by_id) == {id(p) for p in named.values()}, "a parameter is in no group"
    return {n: by_id[id(p)] for n, p in named.items()}


@pytest.mark.parametrize("preset,extra", [("baseline", {}), ("record", {}),
                                          ("record", dict(bigram_buckets=64, bigram_dim=16, value_embed_last_n=2,
                                                          tie_embeddings=False))])
def test_every_parameter_is_claimed_by_exactly_one_rule(preset, extra):
    model = build_model(load_config(preset, smoke=True, **extra))
    got = _claimed_once(model)
    for name, p in model.named_parameters():
        assert claims(name, p) == [got[name]]  # one claim each, and it is the group it landed in
    if extra:
        assert got["lm_head.weight"] == "head" and got["bigram.table.weight"] == got["value_embed.table.weight"] == "embed"


@pytest.mark.parametrize("name,shape", [("extra_matrix", (8, 8)), ("extra_cube", (2, 2, 2))])
def test_a_new_parameter_no_rule_claims_is_an_error(name, shape):
    model = build_model(load_config("record", smoke=True))
    model.blocks[0].attn.register_parameter(name, torch.nn.Parameter(torch.zeros(shape)))
    with pytest.raises(PgolfError, match=rf"blocks\.0\.attn\.{name} .* claimed by no rule"):
        param_groups(model)


def test_a_parameter_two_rules_claim_is_an_error():
    model = build_model(load_config("baseline", smoke=True))
    model.blocks[0].mlp.fc.weight.optim_group = "scalar"  # a tag on a block matrix: two claims
    with pytest.raises(PgolfError, match=r"blocks\.0\.mlp\.fc\.weight .* claimed by scalar, matrix"):
        param_groups(model)
    del model.blocks[0].mlp.fc.weight.optim_group
    model.blocks[0].attn_scale.optim_group = "bogus"  # an unknown group
    with pytest.raises(PgolfError, match="claimed by bogus"):
        param_groups(model)
