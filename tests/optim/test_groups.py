"""The baseline's optimizer split: Muon gets the block matrices, Adam everything else."""

from __future__ import annotations

from pgolf import build_model, load_config
from pgolf.optim.build import param_groups


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
