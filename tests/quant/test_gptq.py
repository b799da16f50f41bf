import numpy as np
import pytest
import torch

from pgolf.config import load_config
from pgolf.errors import PgolfError
from pgolf.quant.gptq import collect_hessians, gptq_symbols
from pgolf.quant.intk import TensorPlan, parse_rules, plan_for, qmax, row_scales, rtn_symbols
from pgolf.quant.quantize import dequantize_state_dict, dequantize_tensor
from pgolf.quant.scheme import quantize_for_export


def _layer(seed=0, rows=96, cols=128, n=2048):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.05
    mix = torch.randn(cols, cols, generator=g) / cols**0.5 + torch.eye(cols)  # correlated inputs
    x = torch.randn(n, cols, generator=g) @ mix * torch.linspace(0.2, 3.0, cols)
    return w, x


def _out_err(w, wq, x):
    return float((x @ (w - wq).T).square().mean())


def test_rtn_symbols_respect_bits_and_std_clip():
    w, _ = _layer()
    plan = TensorPlan(6, 12.85, 0.0)
    s = row_scales(w, plan)
    q = rtn_symbols(w, s, 6)
    assert q.abs().max() <= qmax(6) == 31
    torch.testing.assert_close(s * 31, 12.85 * w.std(dim=1), rtol=2e-3, atol=0)  # the unbiased row std


@pytest.mark.parametrize("bits", [4, 6])
def test_gptq_beats_round_to_nearest_on_layer_output(bits):
    w, x = _layer()
    h = x.T @ x / len(x)
    s = row_scales(w, TensorPlan(bits, 12.85 if bits == 6 else 6.0, 0.0))
    rtn = rtn_symbols(w, s, bits) * s[:, None]
    q = gptq_symbols(w, h, s, bits, block=32)
    assert q.abs().max() <= qmax(bits) and torch.equal(q, q.round())
    assert _out_err(w, q * s[:, None], x) < 0.8 * _out_err(w, rtn, x)


def test_lqer_lowers_the_error_further():
    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(128, 160, bias=False)

        def forward(self, x, y):
            return self.lin(x).sum()

    net = One()
    w, x = _layer(rows=160)
    net.lin.weight.data.copy_(w)
    hs = collect_hessians(net, [(x[:1024], None), (x[1024:], None)], min_numel=0)
    torch.testing.assert_close(hs["lin.weight"], x.T @ x / len(x), rtol=1e-4, atol=1e-4)
    state = {"lin.weight": w}
    errs = {}
    for scheme, rank in (("rtn", 0), ("gptq", 0), ("gptq", 4)):
        cfg = load_config("tiny", quant_scheme=scheme, quant_bits=4, quant_clip_sigmas=6.0, lqer_rank=rank,
                          lqer_top_k=1, quant_keep_float_numel=0)
        q = quantize_for_export(state, cfg, hs)
        assert ("lin.weight.lqer_a" in q) == (rank > 0)
        errs[(scheme, rank)] = _out_err(w, dequantize_state_dict(q)["lin.weight"], x)
    assert errs[("gptq", 4)] < errs[("gptq", 0)] < errs[("rtn", 0)]


def test_rules_pick_bits_by_name():
    cfg = load_config("tiny", quant_bits=6, quant_embed_bits=7, quant_rules="mlp.proj=5@10;*.c_q.*=8")
    assert plan_for("tok_emb.weight", cfg).bits == 7
    assert plan_for("blocks.0.mlp.proj.weight", cfg) == TensorPlan(5, 10.0, cfg.quant_clip_quantile)
    assert plan_for("blocks.1.attn.c_q.weight", cfg).bits == 8
    assert plan_for("blocks.1.attn.c_k.weight", cfg).bits == 6
    with pytest.raises(PgolfError, match="pattern=bits"):
        parse_rules("oops")
    with pytest.raises(PgolfError, match="2..8"):
        parse_rules("x=9")


def test_rtn_export_round_trips_shapes_and_passthrough():
    import pgolf

    cfg = load_config("tiny", quant_scheme="rtn", quant_keep_float_numel=1024)
    model = pgolf.build_model(cfg)
    q = quantize_for_export(model.state_dict(), cfg)
    assert q["tok_emb.weight"].kind == "intk_rows" and q["tok_emb.weight"].bits == 8
    assert q["blocks.0.attn.c_q.weight"].kind == "fp16"  # 32x32 <= 1024
    back = dequantize_state_dict(q)
    for k, v in model.state_dict().items():
        assert back[k].shape == v.shape and back[k].dtype == v.dtype
    assert np.abs(dequantize_tensor(q["tok_emb.weight"]).numpy() - model.tok_emb.weight.detach().numpy()).max() < 1e-3
