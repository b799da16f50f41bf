import torch

import pgolf


def _model(**kw):
    torch.manual_seed(0)
    model = pgolf.build_model(pgolf.load_config("tiny", **kw))
    # zero-initialised projections would hide any mixing across positions: randomise everything
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def test_baseline_parameter_count():
    model = pgolf.build_model(pgolf.load_config("baseline"))
    assert sum(p.numel() for p in model.parameters()) == 17_059_912


def test_forward_logits_shape_and_dtype():
    model = _model()
    ids = torch.randint(0, 1024, (3, 17))
    out = model.forward_logits(ids)
    assert out.shape == (3, 17, 1024) and out.dtype == torch.float32
    assert out.abs().max() <= 30.0  # soft cap


def test_strict_causality():
    model = _model()
    ids = torch.randint(0, 1024, (2, 32))
    base = model.forward_logits(ids)
    for t in (0, 5, 30):
        pert = ids.clone()
        pert[:, t + 1] = (pert[:, t + 1] + 1) % 1024
        out = model.forward_logits(pert)
        assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"position <= {t} saw token {t + 1}"
        assert not torch.equal(out[:, t + 1], base[:, t + 1])


def test_untied_head_and_loss_matches_logits():
    model = _model(tie_embeddings=False)
    ids = torch.randint(0, 1024, (2, 8))
    tgt = torch.randint(0, 1024, (2, 8))
    per_tok = model(ids, tgt, reduction="none")
    ref = torch.nn.functional.cross_entropy(model.forward_logits(ids).reshape(-1, 1024), tgt.reshape(-1), reduction="none")
    torch.testing.assert_close(per_tok.reshape(-1), ref)
    torch.testing.assert_close(model(ids, tgt), ref.mean())


def test_gradients_reach_every_parameter():
    model = _model().train()
    ids = torch.randint(0, 1024, (2, 16))
    model(ids, torch.roll(ids, -1, 1)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
