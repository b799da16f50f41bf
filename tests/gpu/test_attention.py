"""The attention paths on CUDA: each backend the config accepts (SDPA, FlexAttention, varlen where
present) computes in bf16 what fp32 SDPA computes, with and without document masking, and keeps
causality and document isolation in bf16."""

from __future__ import annotations

import pytest
import torch

import pgolf
from pgolf.config import CHOICES, load_config
from pgolf.errors import PgolfError
from tests.gpu.kit import GPU, doc_batch, jitter, rel_err

pytestmark = GPU

SHAPE = dict(num_layers=2, model_dim=256, num_heads=4, num_kv_heads=2, train_seq_len=1024)


def backends() -> list[str]:
    """Every attention backend the config accepts, but ``auto`` (which picks one of them)."""
    return [n for n in CHOICES["attn_backend"] if n != "auto"]


def _model(backend: str, isolate: bool, state=None):
    try:
        cfg = load_config("baseline", attn_backend=backend, doc_isolation=isolate, **SHAPE)
        model = pgolf.build_model(cfg)
    except (PgolfError, ValueError, ImportError) as e:
        pytest.skip(f"attn_backend={backend} not available: {e}")
    if state is None:
        torch.manual_seed(0)
        jitter(model)
    else:
        model.load_state_dict(state)
    return model.cuda().eval(), cfg


def _logits(model, ids, bf16: bool) -> torch.Tensor:
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        return model.forward_logits(ids).float()


@pytest.mark.parametrize("isolate", [False, True], ids=["causal", "doc_masked"])
@pytest.mark.parametrize("backend", backends())
def test_bf16_matches_fp32_sdpa(backend, isolate, record_property):
    ref_model, cfg = _model("sdpa", isolate)
    model, _ = _model(backend, isolate, ref_model.state_dict())
    ids = doc_batch(4, cfg.train_seq_len, cfg.vocab_size, cfg.bos_id, seed=1).cuda()
    ref = _logits(ref_model, ids, bf16=False)
    out = _logits(model, ids, bf16=True)
    err = rel_err(out, ref)
    record_property("rel_err_vs_fp32", err)
    assert torch.isfinite(out).all()
    assert err < 2e-2, f"{backend}: bf16 logits {err:.2e} from fp32 SDPA"


@pytest.mark.parametrize("backend", backends())
def test_bf16_causal_and_document_isolated(backend):
    model, cfg = _model(backend, True)
    T, bos = cfg.train_seq_len, cfg.bos_id
    ids = doc_batch(2, T, cfg.vocab_size, bos, seed=2, mean_doc=10**9)  # one document per row...
    cut = T // 3
    ids[:, cut] = bos  # ...then a second one from `cut` on
    ids = ids.cuda()
    base = _logits(model, ids, bf16=True)
    first = ids.clone()
    first[:, 1:cut] = (first[:, 1:cut] + 7) % cfg.vocab_size
    first[first == bos] = (bos + 2) % cfg.vocab_size
    first[:, 0], first[:, cut] = bos, bos
    moved = _logits(model, first, bf16=True)
    inside = (moved[:, :cut] - base[:, :cut]).abs().max().item()
    leaked = (moved[:, cut:] - base[:, cut:]).abs().max().item()
    assert inside > 1e-2, "changing the first document changed nothing: the check cannot fail"
    assert leaked <= 1e-3 * inside, f"{backend}: the second document saw the first ({leaked:.3g} vs {inside:.3g})"
    future = ids.clone()
    future[:, -T // 4:] = (future[:, -T // 4:] + 3) % cfg.vocab_size
    future[future == bos] = (bos + 2) % cfg.vocab_size
    future[:, 0], future[:, cut] = bos, bos
    ahead = _logits(model, future, bf16=True)
    past = (ahead[:, : T - T // 4] - base[:, : T - T // 4]).abs().max().item()
    assert past <= 1e-3 * inside, f"{backend}: a position saw a later token ({past:.3g})"
