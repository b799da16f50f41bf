import numpy as np
import pytest
import torch

import pgolf
from pgolf.artifact.container import decode, encode, read_artifact, write_artifact
from pgolf.artifact.export import export_model, load_model
from pgolf.errors import PgolfError
from pgolf.quant.quantize import dequantize_tensor, quantize_state_dict, quantize_tensor


def test_int8_rows_error_bound():
    torch.manual_seed(0)
    w = torch.randn(300, 257)  # > 65,536 values: quantized
    q = quantize_tensor("blocks.0.mlp.fc.weight", w)
    assert q.kind == "int8_rows" and q.data.dtype == np.int8 and q.scale.shape == (300,)
    err = (dequantize_tensor(q) - w).abs()
    scale = torch.from_numpy(q.scale).float()[:, None]
    clip = 127 * scale
    inside = w.abs() <= clip
    assert (err[inside] <= scale.expand_as(w)[inside] / 2 + 1e-6).all()
    assert err.max() < 0.05


def test_small_and_control_tensors_pass_through():
    q = quantize_tensor("blocks.0.attn_scale", torch.randn(512))
    assert q.kind == "fp32"
    q = quantize_tensor("blocks.0.attn.c_q.weight", torch.randn(64, 64))
    assert q.kind == "fp16"
    q = quantize_tensor("big.vector", torch.randn(70_000))
    assert q.kind == "int8_tensor"


def _state():
    torch.manual_seed(1)
    model = pgolf.build_model(pgolf.load_config("tiny", model_dim=64, num_heads=4, num_kv_heads=2))
    return model


def test_container_round_trip_is_exact_and_deterministic():
    model = _state()
    q = quantize_state_dict(model.state_dict())
    blob = encode(q, {"k": 1})
    q2, cfg = decode(blob)
    assert cfg == {"k": 1}
    assert encode(q2, cfg) == blob
    for name in q:
        assert np.array_equal(q[name].data, q2[name].data)
        assert torch.equal(dequantize_tensor(q[name]), dequantize_tensor(q2[name]))


def test_export_and_load_model(tmp_path):
    model = _state()
    cfg = model.cfg
    n = export_model(model, cfg, tmp_path / "m.pgolf")
    assert n == (tmp_path / "m.pgolf").stat().st_size
    loaded, cfg2 = load_model(tmp_path / "m.pgolf")
    assert cfg2 == cfg
    ids = torch.randint(0, 1024, (1, 16))
    torch.testing.assert_close(loaded.forward_logits(ids), model.eval().forward_logits(ids), atol=0.05, rtol=0)


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic", "empty"])
def test_damaged_artifact_is_a_clear_error(tmp_path, damage):
    path = tmp_path / "m.pgolf"
    write_artifact(path, quantize_state_dict(_state().state_dict()), {})
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) - 100]
    elif damage == "flip":
        blob[-50] ^= 0xFF
    elif damage == "magic":
        blob[0] ^= 0xFF
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    with pytest.raises(PgolfError) as e:
        read_artifact(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
