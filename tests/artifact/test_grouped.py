import json
import struct
import zlib

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


def _state(rows=256, seed=0, emb_rows=512):
    g = torch.Generator().manual_seed(seed)
    s = {f"blocks.{i}.mlp.fc.weight": torch.randn(rows, 256, generator=g) * 0.02 for i in range(3)}
    s["blocks.0.attn.c_q.weight"] = torch.randn(rows, 256, generator=g) * 0.03
    s["tok_emb.weight"] = torch.randn(emb_rows, 256, generator=g) * 0.05
    s["blocks.0.attn_scale"] = torch.rand(256, generator=g)
    s["blocks.0.attn.c_k.weight"] = torch.randn(16, 256, generator=g)  # small: fp16 passthrough
    return s


def _cfg(**kw):
    return load_config("tiny", **{"quant_scheme": "rtn", "artifact_codecs": "zlib,zstd", **kw})


LAYOUTS = {
    "role": {},
    "scale-sorted": dict(artifact_row_order="scale"),
    "record": dict(artifact_group_by="module", artifact_transpose=True, artifact_row_order="l1",
                   artifact_row_order_names="tok_emb,attn.c_q,mlp.fc"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_is_bit_exact_and_deterministic(layout):
    cfg = _cfg(lqer_rank=2, lqer_top_k=1, quant_keep_float_numel=8192, **LAYOUTS[layout])
    q = quantize_for_export(_state(rows=128, emb_rows=128), cfg)
    opts = grouped.Layout.of(cfg.to_dict())
    blob, table = grouped.encode(q, cfg.to_dict(), cfg.artifact_codecs, opts)
    assert blob == grouped.encode(q, cfg.to_dict(), cfg.artifact_codecs, opts)[0]
    names = {t["name"] for t in table}
    assert {t["codec"] for t in table} <= {"zlib", "zstd"} and ("perm" in names) == (layout != "role")
    if layout == "record":  # one group per weight across layers, in layer order
        assert {"mlp.fc.weight.int6", "attn.c_q.weight.int6", "tok_emb.weight.int8"} <= names
        entries, _ = grouped.layout(q, opts)
        fc = [e["name"] for e in entries if e["data"][0] == "mlp.fc.weight.int6"]
        assert fc == [f"blocks.{i}.mlp.fc.weight" for i in range(3)]
        assert all(e.get("transposed") for e in entries if e["kind"] == "intk_rows")
        assert all(("perm" in e) == any(k in e["name"] for k in ("tok_emb", "c_q", "mlp.fc")) for e in entries)
    q2, config = decode(blob)
    assert config == cfg.to_dict() and set(q2) == set(q)
    for name in q:
        assert q2[name].kind == q[name].kind and q2[name].bits == q[name].bits
        assert np.array_equal(np.asarray(q[name].data).reshape(-1), np.asarray(q2[name].data).reshape(-1))
    a, b = dequantize_state_dict(q), dequantize_state_dict(q2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_l1_order_is_the_records_similarity_sort(record_script):
    rng = np.random.default_rng(0)
    base = rng.integers(-3, 4, (6, 40))
    rows = np.concatenate([base[rng.integers(0, 6, 90)] + rng.integers(-1, 2, (90, 40)),  # near-duplicates
                           np.zeros((4, 40), dtype=np.int64)]).astype(np.int8)  # exact ties
    order = grouped.l1_order(rows)
    assert order.dtype == np.uint16 and sorted(order) == list(range(len(rows)))
    assert np.array_equal(order, record_script._similarity_sort_l1(rows))


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


def _lrzip_artifact(tmp_path):
    cfg = _cfg(artifact_codecs="lrzip", quant_keep_float_numel=4096)
    path = tmp_path / "m.pgolf"
    write_artifact(path, quantize_for_export(_state(rows=64), cfg), cfg.to_dict())
    blob = path.read_bytes()
    (hlen,) = struct.unpack("<I", blob[8:12])
    pos, spans = 12 + hlen, {}
    for g in json.loads(zlib.decompress(blob[12 : 12 + hlen]))["groups"]:
        spans[g["name"]] = (pos, pos + g["compressed"], g["codec"])
        pos += g["compressed"]
    return path, blob, spans


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_zpaq_group_that_fails_to_decompress_is_a_clear_error(tmp_path, lrzip, damage):
    path, blob, spans = _lrzip_artifact(tmp_path)
    start, end, codec = spans["mlp.int6"]
    assert codec == "lrzip"
    blob = bytearray(blob)
    if damage == "flip":
        for i in range(start + 40, end - 10, 97):
            blob[i] ^= 0x5A
    else:
        blob = blob[: (start + end) // 2]
    path.write_bytes(bytes(blob))
    with pytest.raises(PgolfError) as e:
        read_artifact(path)
    msg = str(e.value)
    assert str(path) in msg and "mlp.int6" in msg and "\n" not in msg


def test_a_missing_decompressor_on_the_eval_side_is_one_line(tmp_path, lrzip):
    import subprocess
    import sys

    path, _, _ = _lrzip_artifact(tmp_path)
    env = {"PATH": str(tmp_path / "no-programs-here"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "pgolf", "eval", str(path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgolf: error: ")
    assert "lrzip" in lines[0] and "apt-get install -y lrzip" in lines[0] and str(path) in lines[0]


def test_requirements_name_what_decoding_needs():
    from pgolf.artifact.codecs import requirements

    assert requirements(load_config("baseline")) == []  # int8 + zlib: the standard library
    assert requirements(load_config("record")) == ["brotli", "# system: apt-get install -y lrzip"]
    assert requirements(_cfg().to_dict()) == ["zstandard"]


@pytest.mark.parametrize("field", ["quant_passthrough", "gptq_calib_source", "lqer_mode", "artifact_group_by",
                                   "artifact_row_order", "artifact_codecs"])
def test_every_export_choice_is_checked(field):
    with pytest.raises(PgolfError, match=f"config: .*{field}='nope'"):
        load_config("tiny", **{field: "nope"})


def test_size_model_covers_the_record_layout_and_lrzip(lrzip):
    q = quantize_for_export(_state(rows=64, seed=2, emb_rows=128), _cfg(quant_keep_float_numel=4096))
    for names in ("lrzip,brotli", "lrzip"):
        cfg = _cfg(**LAYOUTS["record"], artifact_codecs=names, quant_keep_float_numel=4096).to_dict()
        r = size_breakdown(q, cfg)
        assert r["bytes_model"] == len(grouped.encode(q, cfg, names, grouped.Layout.of(cfg))[0])
        assert {g["codec"] for g in r["groups"]} <= set(names.split(",")) and "perm" in {g["group"] for g in r["groups"]}
    assert {g["codec"] for g in r["groups"]} == {"lrzip"}
    assert abs(size_breakdown(q, dict(cfg, artifact_codecs="lrzip,brotli"))["prediction_error"]) < 0.05
