"""Document-isolated attention: segments from BOS or from cu_seqlens, and the SDPA, FlexAttention
and varlen paths against each other (varlen's kernel needs CUDA: on CPU its call is checked with
the kernel replaced by one causal SDPA per segment)."""

import pytest
import torch
import torch.nn.functional as F

import pgolf
from pgolf.config import load_config
from pgolf.errors import PgolfError
from pgolf.model import masks
from pgolf.data.segments import cu_seqlens
from pgolf.model.masks import Varlen, attend, build_mask, resolve_backend, segment_ids

# BOS layouts over 24 positions: none, only at 0, consecutive, not at 0 and at the very end
LAYOUTS = {"none": [], "first": [0], "several": [0, 7, 8, 15], "late": [5, 23]}


def _ids(bos, B=1, T=24, seed=0):
    ids = torch.randint(2, 1024, (B, T), generator=torch.Generator().manual_seed(seed))
    ids[:, bos] = 1
    return ids


@pytest.mark.parametrize("max_len", [0, 5])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_cu_seqlens_are_the_records(record_script, layout, max_len):
    ids = _ids(LAYOUTS[layout])
    ref_cu, ref_max = record_script._build_cu_seqlens(LAYOUTS[layout], ids.numel(), "cpu", max_len, 64)
    cu, longest = cu_seqlens(ids, 1, max_len, bucket=64)
    assert torch.equal(cu, ref_cu) and longest == ref_max


def test_segments_from_cu_seqlens_equal_those_from_bos_per_row():
    ids = torch.cat([_ids(LAYOUTS["several"]), _ids(LAYOUTS["late"], seed=1)])
    cu, _ = cu_seqlens(ids, 1, bucket=16)
    from_cu, from_bos = segment_ids(ids, 1, cu), segment_ids(ids, 1)
    for b in range(2):  # same partition of each row (the labels differ: cu counts across rows)
        same_cu = from_cu[b, :, None] == from_cu[b, None, :]
        assert torch.equal(same_cu, from_bos[b, :, None] == from_bos[b, None, :])


def _record_smoke(**kw):
    torch.manual_seed(0)
    model = pgolf.build_model(load_config("record", smoke=True, vocab_size=1024, **kw))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.mark.parametrize("window", [0, 6])
def test_sdpa_and_flex_paths_agree_with_and_without_cu_seqlens(window):
    model = _record_smoke(attn_window=window, attn_backend="sdpa")
    flex = _record_smoke(attn_window=window, attn_backend="flex")
    ids = torch.cat([_ids(LAYOUTS["several"]), _ids(LAYOUTS["late"], seed=1)])
    cu, longest = cu_seqlens(ids, 1)
    with torch.no_grad():
        base = model.forward_logits(ids)
        outs = [model.forward_logits(ids, cu, longest), flex.forward_logits(ids), flex.forward_logits(ids, cu, longest)]
    for out in outs:
        torch.testing.assert_close(out, base, atol=1e-5, rtol=1e-5)


def test_cu_seqlens_cut_long_documents_like_the_record():
    """With the record's cut every max_len tokens into a document, a query after a cut sees
    nothing before it (but SmearGate still reads the previous token: only a BOS stops it)."""
    model = _record_smoke(attn_backend="sdpa", smear_gate=False)
    ids = _ids([0])
    cu, longest = cu_seqlens(ids, 1, max_len=10)
    pert = ids.clone()
    pert[0, 1:10] = (pert[0, 1:10] + 7) % 1000 + 2
    with torch.no_grad():
        base, out = model.forward_logits(ids, cu, longest), model.forward_logits(pert, cu, longest)
        uncut = model.forward_logits(pert)
    assert torch.equal(out[:, 10:], base[:, 10:]) and not torch.equal(out[:, :10], base[:, :10])
    assert not torch.equal(uncut[:, 10:], base[:, 10:])


def _per_segment_sdpa(q, k, v, cu_q, cu_k, max_q, max_k, window_size=(-1, -1), enable_gqa=False, **_):
    """Stand-in for the CUDA kernel: (total, H, D) in and out, one causal attention per segment."""
    assert q.dtype == torch.bfloat16 and cu_q.dtype == torch.int32 and window_size[1] == 0
    out = torch.empty_like(q)
    bounds = cu_q.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            assert b - a <= max_q
            qs, ks, vs = (t[a:b].transpose(0, 1).float() for t in (q, k, v))
            keep = torch.ones(b - a, b - a, dtype=torch.bool).tril()
            if window_size[0] >= 0:
                keep = keep & ~torch.ones_like(keep).tril(-window_size[0] - 1)
            out[a:b] = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=keep, enable_gqa=enable_gqa).transpose(0, 1).to(out.dtype)
    return out


@pytest.mark.parametrize("window", [0, 4])
def test_varlen_call_matches_sdpa(monkeypatch, window):
    if not masks.has_varlen():
        pytest.skip("this torch has no torch.nn.attention.varlen")
    import torch.nn.attention.varlen as varlen

    monkeypatch.setattr(varlen, "varlen_attn", _per_segment_sdpa)
    ids = torch.cat([_ids(LAYOUTS["several"]), _ids(LAYOUTS["none"], seed=1)])
    q, k, v = torch.randn(2, 4, 24, 8), torch.randn(2, 2, 24, 8), torch.randn(2, 2, 24, 8)
    q, k, v = (t.bfloat16().float() for t in (q, k, v))  # the kernel reads bf16
    cu, longest = cu_seqlens(ids, 1, bucket=8)
    got = attend(q, k, v, Varlen(cu, longest, window))
    ref = attend(q, k, v, build_mask(ids, True, window, 1, backend="sdpa"))
    torch.testing.assert_close(got, ref, atol=2e-2, rtol=2e-2)  # bf16 output


def test_backend_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_backend("auto", cpu, True) == "sdpa"
    assert resolve_backend("auto", cuda, False) == "flex"
    assert resolve_backend("auto", cuda, True) == ("varlen" if masks.has_varlen() else "flex")
    assert resolve_backend("flex", cpu, False) == "flex"
    with pytest.raises(PgolfError, match="varlen needs CUDA"):
        resolve_backend("varlen", cpu, True)
    assert build_mask(_ids([0, 5]), False, 0, 1, backend="auto") is None  # plain causal: SDPA's fast path
