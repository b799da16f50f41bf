"""Score-first TTT: legal by its own audit, no-op at lr 0, and the model is left untouched."""

import numpy as np
import pytest
import torch

from pgolf.eval.audit import check_audit
from pgolf.eval.score import score_stream
from pgolf.eval.strategy import evaluate_model

L = 64
N = 2500  # tokens of the val slice: seconds per TTT pass


def _ttt_cfg(cfg, **kw):
    return cfg.replace(ttt_enabled=True, ttt_chunk_tokens=32, ttt_batch_docs=8, ttt_lora_rank=4, **kw)


def test_zero_lr_ttt_equals_document_aware_sliding(tiny_model, tiny_cfg, val_slice, table):
    res = evaluate_model(tiny_model, val_slice[:N], table, _ttt_cfg(tiny_cfg, ttt_lora_lr=0.0), "cpu", L)
    ref = score_stream(tiny_model, val_slice[:N], table, L, 2048, stride=32, doc_aware=True)
    assert res["target_tokens"] == ref["target_tokens"]
    assert abs(res["val_loss"] - ref["val_loss"]) < 1e-6 * ref["val_loss"]
    assert res["lora_steps"] > 0


def test_legal_ttt_passes_its_audit_and_restores_the_model(tiny_model, tiny_cfg, val_slice, table, tmp_path):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    cfg = _ttt_cfg(tiny_cfg, ttt_lora_lr=0.01, ttt_global_lr=0.01, ttt_phase_docs=2).replace(ttt_batch_docs=2)
    path = tmp_path / "audit.json"
    res = evaluate_model(tiny_model, val_slice[:N], table, cfg, "cpu", L, audit=str(path))
    assert res["audit"]["ok"], res["audit"]
    assert res["global_steps"] > 0 and res["lora_steps"] > 0
    assert res["strategy"].startswith("ttt(")
    assert set(res["phase_seconds"]) == {"score", "adapt", "global"}
    rep = check_audit(path)
    assert rep["ok"] and set(rep["checks"]) == {"scored_exactly_once", "score_before_update", "no_read_before_score",
                                                "normalized_distribution", "causal_scoring"}
    after = tiny_model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    # adaptation changed the score (it learnt something from the scored chunks)
    plain = evaluate_model(tiny_model, val_slice[:N], table, _ttt_cfg(tiny_cfg, ttt_lora_lr=0.0), "cpu", L)
    assert res["val_loss"] != plain["val_loss"]


def test_per_document_adapters_do_not_depend_on_the_batch(tiny_model, tiny_cfg, val_slice, table):
    a = evaluate_model(tiny_model, val_slice[:N], table, _ttt_cfg(tiny_cfg, ttt_lora_lr=0.01), "cpu", L)
    b = evaluate_model(tiny_model, val_slice[:N], table, _ttt_cfg(tiny_cfg, ttt_lora_lr=0.01).replace(ttt_batch_docs=3),
                       "cpu", L)
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-5 * a["val_loss"]


@pytest.mark.parametrize("bad", [{"ttt_batch_docs": 0}, {"ttt_lora_rank": -1}, {"ttt_lora_lr": -1.0}])
def test_ttt_settings_out_of_range_are_one_line_errors_of_the_config(bad):
    from pgolf.config import load_config
    from pgolf.errors import PgolfError

    with pytest.raises(PgolfError, match=f"{next(iter(bad))}=") as e:
        load_config("tiny", **{"ttt_enabled": True, "ttt_chunk_tokens": 32, **bad})
    assert "\n" not in str(e.value)


def test_a_ttt_chunk_longer_than_the_eval_window_is_a_one_line_error():
    from pgolf.config import load_config
    from pgolf.errors import PgolfError
    from pgolf.eval.ttt import score_ttt

    cfg = load_config("tiny", ttt_enabled=True, ttt_chunk_tokens=999)
    with pytest.raises(PgolfError, match="ttt_chunk_tokens"):
        score_ttt(None, np.ones(100, dtype=np.uint16), None, cfg, 64, "cpu")
