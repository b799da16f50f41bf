"""The audit passes legal evaluations and catches illegal test-time training written here."""

import json

import numpy as np
import pytest
import torch

from pgolf.eval.audit import AuditTrail, ValTokens, build_report, check_audit, write_report
from pgolf.eval.score import token_nll, window_batch
from pgolf.eval.strategy import evaluate_model
from pgolf.eval.windows import plan

L, C, N = 64, 32, 1200


def _report(trail, n):
    return build_report([trail.rank_record()], "test", n, 1024, trail.structure, trail.bos)


def _failed(rep):
    return {k for k, c in rep["checks"].items() if not c["ok"]}


def _chunked_ttt(model, tokens, order: str, warmup: str = ""):
    """A hand-written chunked TTT (stream order, one global SGD step per chunk), legal or not.

    order: "score-first" (legal), "update-first" (adapts on a chunk, then scores it) or "rescore"
    (scores, adapts, then scores the chunk again and keeps the second score).
    warmup: "" | "forward" (a compile-style warm-up forward on val tokens) | "sgd" (steps on them).
    """
    trail = AuditTrail(len(tokens), 1024)
    val = ValTokens(tokens, trail)
    params = [p for p in model.parameters()]
    saved = [p.detach().clone() for p in params]
    opt = trail.wrap_optimizer(torch.optim.SGD(params, lr=1e-3), note="chunk sgd")
    windows = plan(len(tokens), L, C)

    def adapt(w):
        x, y, mask = window_batch(val, [w], "cpu")
        opt.zero_grad()
        token_nll(model, x, y, torch.device("cpu"))[mask].mean().backward()
        opt.step()

    def score(w):
        x, y, mask = window_batch(val, [w], "cpu")
        with torch.no_grad():
            token_nll(model, x, y, torch.device("cpu"), (0, w.score_from), trail, w.targets[0])
        trail.score([w.targets])

    try:
        if warmup:
            x, y, mask = window_batch(val, windows[:2], "cpu")
            if warmup == "sgd":
                opt.zero_grad()
                token_nll(model, x, y, torch.device("cpu")).mean().backward()
                opt.step()
            else:
                with torch.no_grad():
                    token_nll(model, x, y, torch.device("cpu"))
        for w in windows:
            if order == "update-first":
                adapt(w)
                score(w)
            else:
                score(w)
                adapt(w)
                if order == "rescore":
                    score(w)
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
    return _report(trail, len(tokens))


def test_hand_written_score_first_ttt_passes(tiny_model, val_slice):
    rep = _chunked_ttt(tiny_model, val_slice[:N], "score-first")
    assert rep["ok"], rep["checks"]
    assert rep["tokens_scored"] == N - 1


def test_update_before_score_fails(tiny_model, val_slice):
    rep = _chunked_ttt(tiny_model, val_slice[:N], "update-first")
    assert "score_before_update" in _failed(rep) and not rep["ok"]


def test_rescoring_after_adaptation_fails(tiny_model, val_slice):
    rep = _chunked_ttt(tiny_model, val_slice[:N], "rescore")
    assert _failed(rep) == {"scored_exactly_once"}


@pytest.mark.parametrize("warmup,failed", [("forward", "no_read_before_score"), ("sgd", "score_before_update")])
def test_warmup_on_val_tokens_fails(tiny_model, val_slice, warmup, failed):
    rep = _chunked_ttt(tiny_model, val_slice[:N], "score-first", warmup=warmup)
    assert failed in _failed(rep) and not rep["ok"]


def test_unnormalised_distribution_fails():
    trail = AuditTrail(5, 1024)
    trail.sample(1, 1.0, 0.5, float(-np.log(0.5)), 1024)
    trail.score([(1, 5)])
    assert _report(trail, 5)["ok"]
    trail.sample(2, 1.02, 0.5, float(-np.log(0.5)), 1024)  # e.g. an un-normalised mixture
    trail.sample(3, 1.0, 0.5, 0.1, 1024)  # a loss that is not from the sampled distribution
    trail.sample(4, 1.0, 0.5, float(-np.log(0.5)), 1000)  # a truncated vocabulary
    rep = _report(trail, 5)
    assert _failed(rep) == {"normalized_distribution"}
    assert "3 bad sample" in rep["checks"]["normalized_distribution"]["detail"]


@pytest.mark.parametrize("stride,doc", [(64, False), (16, True)])
def test_scoring_strategies_pass_and_the_file_rechecks(tiny_model, tiny_cfg, val_slice, table, tmp_path, stride, doc):
    path = tmp_path / "audit.json"
    cfg = tiny_cfg.replace(eval_stride=stride, eval_doc_aware=doc)
    res = evaluate_model(tiny_model, val_slice[:N], table, cfg, "cpu", L, audit=str(path))
    assert res["audit"]["ok"]
    rep = json.loads(path.read_text())
    assert rep["ok"] and rep["tokens_scored"] == N - 1 and rep["strategy"] == res["strategy"]
    assert check_audit(path, tokens=val_slice[:N])["ok"]
    assert not check_audit(path, tokens=val_slice[: N + 1])["ok"]  # another stream
    # tamper with the trail: score the first chunk a second time
    rep["ranks"][0]["events"].append(dict(rep["ranks"][0]["events"][0], step=10**6))
    write_report(path, rep)
    again = check_audit(path)
    assert not again["ok"] and not again["checks"]["scored_exactly_once"]["ok"]


class _PeekingModel(torch.nn.Module):
    """Illegal: the logits at each position also see the next input token (the target)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward_logits(self, ids):
        logits = self.inner.forward_logits(ids)
        peek = torch.nn.functional.one_hot(ids[:, 1:], logits.size(-1)).float() * 5.0
        return torch.cat([logits[:, :-1] + peek, logits[:, -1:]], dim=1)


def test_a_model_that_peeks_at_the_target_fails(tiny_model, tiny_cfg, val_slice, table, tmp_path):
    res = evaluate_model(_PeekingModel(tiny_model), val_slice[:N], table, tiny_cfg, "cpu", L,
                         audit=str(tmp_path / "a.json"))
    honest = evaluate_model(tiny_model, val_slice[:N], table, tiny_cfg, "cpu", L)
    assert res["val_loss"] < honest["val_loss"]  # the leak pays off ...
    assert res["audit"]["failed"] == ["causal_scoring"]  # ... and is caught


def test_scores_without_sampled_positions_fail_cleanly():
    trail = AuditTrail(5, 1024)
    trail.score([(1, 5)])  # scored, but no distribution was ever sampled
    rep = _report(trail, 5)
    rep.pop("tokens_scored", None)
    assert _failed(check_audit(rep)) == {"normalized_distribution"}
