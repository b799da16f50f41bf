"""Phased score-first TTT: legal by its own audit, no-op at lr 0, the model left untouched, bad settings caught."""

import numpy as np
import pytest
import torch

from pgolf.eval.audit import check_audit
from pgolf.eval.score import score_stream
from pgolf.eval.strategy import evaluate_model

L = 64
N = 2500  # tokens of the val slice: seconds per TTT pass


def _ttt_cfg(cfg, **kw):
    return cfg.replace(**{"ttt_enabled": True, "ttt_chunk_tokens": 32, "ttt_batch_docs": 8, "ttt_lora_rank": 4,
                          "ttt_global_lr": 0.0, **kw})


def test_zero_lr_ttt_equals_whole_document_scoring(tiny_model, tiny_cfg, val_slice, table):
    """With the window longer than any document, every chunk reads its document's whole prefix:
    at lr 0 that is document-aware scoring with one window per document."""
    res = evaluate_model(tiny_model, val_slice[:N], table, _ttt_cfg(tiny_cfg, ttt_lora_lr=0.0), "cpu", N)
    ref = score_stream(tiny_model, val_slice[:N], table, N, N, doc_aware=True)
    assert res["target_tokens"] == ref["target_tokens"]
    assert abs(res["val_loss"] - ref["val_loss"]) < 1e-6 * ref["val_loss"]
    assert res["lora_steps"] > 0


def test_legal_ttt_passes_its_audit_and_restores_the_model(tiny_model, tiny_cfg, val_slice, table, tmp_path):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    cfg = _ttt_cfg(tiny_cfg, ttt_lora_lr=0.01, ttt_global_lr=0.01, ttt_prefix_docs=6, ttt_phases=2,
                   ttt_global_chunk_tokens=2 * L, ttt_global_batch_seqs=1, ttt_batch_docs=2)
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


def test_ttt_is_deterministic_and_chains_carry_the_adapters(tiny_model, tiny_cfg, val_slice, table):
    """A's carry along chains: one chain and several chains differ, each is deterministic."""
    cfg = _ttt_cfg(tiny_cfg, ttt_lora_lr=0.01, ttt_batch_docs=2)
    one = evaluate_model(tiny_model, val_slice[:N], table, cfg.replace(ttt_chains=1), "cpu", L)
    again = evaluate_model(tiny_model, val_slice[:N], table, cfg.replace(ttt_chains=1), "cpu", L)
    four = evaluate_model(tiny_model, val_slice[:N], table, cfg.replace(ttt_chains=4), "cpu", L)
    assert one["val_loss"] == again["val_loss"]
    assert one["val_loss"] != four["val_loss"]


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


def test_chains_must_split_over_the_ranks():
    from pgolf.config import load_config
    from pgolf.errors import PgolfError
    from pgolf.eval.ttt import check_settings

    with pytest.raises(PgolfError, match="multiple of the 2 ranks"):
        check_settings(load_config("tiny", ttt_enabled=True, ttt_chunk_tokens=32, ttt_chains=3), 64, 2)
