import numpy as np
import pytest
import torch

from pgolf.artifact import codecs, grouped
from pgolf.artifact.container import decode, read_artifact, write_artifact
from pgolf.artifact.size_model import entropy_bytes, size_breakdown
from pgolf.config import load_config
from pgolf.errors import PgolfError
from pgolf.quant.quantize import dequantize_state_dict
from pgolf.quant.scheme import quantize_for_export


def _state(rows=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = {f"blocks.{i}.mlp.fc.weight": torch.randn(rows, 256, generator=g) * 0.02 for i in range(3)}
    s["blocks.0.attn.c_q.weight"] = torch.randn(rows, 256, generator=g) * 0.03
    s["tok_emb.weight"] = torch.randn(512, 256, generator=g) * 0.05
    s["blocks.0.attn_scale"] = torch.rand(256, generator=g)
    s["blocks.0.attn.c_k.weight"] = torch.randn(16, 256, generator=g)  # small: fp16 passthrough
    return s


def _cfg(**kw):
    return load_config("tiny", quant_scheme="rtn", artifact_codecs="zlib,zstd", **kw)


@pytest.mark.parametrize("reorder", [False, True])
def test_round_trip_is_bit_exact_and_deterministic(reorder):
    cfg = _cfg(artifact_row_reorder=reorder, lqer_rank=2, lqer_top_k=1)
    q = quantize_for_export(_state(rows=128), cfg)
    blob, table = grouped.encode(q, cfg.to_dict(), cfg.artifact_codecs, reorder)
    assert blob == grouped.encode(q, cfg.to_dict(), cfg.artifact_codecs, reorder)[0]
    assert {t["codec"] for t in table} <= {"zlib", "zstd"} and ("perm" in {t["name"] for t in table}) == reorder
    q2, config = decode(blob)
    assert config == cfg.to_dict() and set(q2) == set(q)
    for name in q:
        assert q2[name].kind == q[name].kind and q2[name].bits == q[name].bits
        assert np.array_equal(np.asarray(q[name].data).reshape(-1), np.asarray(q2[name].data).reshape(-1))
    a, b = dequantize_state_dict(q), dequantize_state_dict(q2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_smallest_codec_wins():
    raw = bytes(np.random.default_rng(0).integers(0, 4, 50_000, dtype=np.uint8))
    name, out = codecs.smallest(raw, ["zlib", "lzma", "zstd"])
    assert len(out) == min(len(codecs.get(n)[0](raw)) for n in ("zlib", "lzma", "zstd"))
    with pytest.raises(PgolfError, match="unknown codec"):
        codecs.available("zlib,nope")


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "trailing"])
def test_damaged_v2_file_is_a_clear_error(tmp_path, damage):
    cfg = _cfg()
    path = tmp_path / "m.pgolf"
    write_artifact(path, quantize_for_export(_state(rows=64), cfg), cfg.to_dict())
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:-100]
    elif damage == "flip":
        blob[-300] ^= 0xFF
    elif damage == "header":
        blob[20] ^= 0xFF
    else:
        blob += b"\0"
    path.write_bytes(bytes(blob))
    with pytest.raises(PgolfError) as e:
        read_artifact(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_entropy_of_known_distributions():
    assert entropy_bytes(bytes(1000)) == 0
    assert entropy_bytes(bytes(range(256)) * 4) == pytest.approx(1024)


def test_size_prediction_within_two_percent():
    cfg = load_config("tiny", quant_scheme="rtn", quant_bits=6, artifact_codecs="brotli")
    q = quantize_for_export(_state(rows=512, seed=3), cfg)
    r = size_breakdown(q, cfg.to_dict(), code_bytes=15_000)
    assert r["bytes_model"] == len(grouped.encode(q, cfg.to_dict(), "brotli")[0])
    assert abs(r["prediction_error"]) < 0.02
    assert r["headroom"] == 16_000_000 - r["bytes_model"] - 15_000
    assert 3.0 < r["bits_per_weight"] < 5.0 and r["extra_params"] == int(r["headroom"] * 8 / r["bits_per_weight"])
