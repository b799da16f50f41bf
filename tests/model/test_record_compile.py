"""The record model traces as one graph (torch.compile fullgraph=True, dynamo with the eager
backend, so no C++ toolchain is needed): training with and without the loop, and the
FlexAttention mask path in eval (FlexAttention has no CPU backward; CUDA is its target)."""

import torch

import pgolf
from pgolf.config import load_config


def _ids():
    ids = torch.randint(0, 1024, (2, 32), generator=torch.Generator().manual_seed(0))
    ids[ids == 1] = 2
    ids[:, 0] = 1
    ids[:, 13] = 1
    return ids


def test_record_training_step_has_no_graph_breaks():
    torch.manual_seed(0)
    model = pgolf.build_model(load_config("record", smoke=True, attn_backend="sdpa"))
    compiled = torch.compile(model, fullgraph=True, backend="eager", dynamic=False)
    ids = _ids()
    for loop in (False, True):
        compiled(ids, torch.roll(ids, -1, 1), looping=loop).backward()
    model.eval()
    with torch.no_grad():
        assert torch.equal(compiled(ids, ids, reduction="none"), model(ids, ids, reduction="none"))


def test_flex_mask_path_compiles_fullgraph_and_matches_sdpa():
    torch.manual_seed(0)
    cfg = load_config("record", smoke=True, attn_backend="flex")
    model = pgolf.build_model(cfg).eval()
    ref = pgolf.build_model(cfg.replace(attn_backend="sdpa")).eval()
    ref.load_state_dict(model.state_dict())
    compiled = torch.compile(model, fullgraph=True, backend="eager", dynamic=False)
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids, ids, reduction="none"), ref(ids, ids, reduction="none"),
                                   atol=1e-5, rtol=1e-5)
