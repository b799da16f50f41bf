"""Scoring strategies on a slice of the mini val with a briefly trained tiny model."""

import numpy as np
import torch

from pgolf.eval.score import score_stream

L = 64


def _reference_nonoverlap(model, tokens):
    """The baseline's way, one window at a time, through the model's own loss."""
    total, n = 0.0, len(tokens) - 1
    stream = torch.from_numpy(tokens.astype(np.int64))
    with torch.no_grad():
        for s in range(0, n, L):
            e = min(s + L, n)
            total += model(stream[s:e][None], stream[s + 1 : e + 1][None], reduction="none").double().sum().item()
    return total / n


def test_stride_equal_to_window_reproduces_non_overlapping(tiny_model, val_slice, table):
    base = score_stream(tiny_model, val_slice, table, L, 2048)
    same = score_stream(tiny_model, val_slice, table, L, 2048, stride=L)
    assert same["val_loss"] == base["val_loss"] and same["val_bpb"] == base["val_bpb"]
    ref = _reference_nonoverlap(tiny_model, val_slice)
    assert abs(base["val_loss"] - ref) < 1e-6 * ref
    assert base["target_tokens"] == len(val_slice) - 1


def test_sliding_window_loss_not_above_non_overlapping(tiny_model, val_slice, table):
    base = score_stream(tiny_model, val_slice, table, L, 2048)
    slide = score_stream(tiny_model, val_slice, table, L, 2048, stride=16)
    assert slide["val_loss"] <= base["val_loss"]
    assert slide["bytes"] == base["bytes"] and slide["target_tokens"] == base["target_tokens"]
    assert slide["inputs_read"] > 3 * base["inputs_read"]


def test_batch_size_does_not_change_the_score(tiny_model, val_slice, table):
    a = score_stream(tiny_model, val_slice, table, L, 4096, stride=24, doc_aware=True)
    b = score_stream(tiny_model, val_slice, table, L, 64, stride=24, doc_aware=True)
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-6 * a["val_loss"]


def _docs(tokens):
    starts = list(np.flatnonzero(tokens == 1)) + [len(tokens)]
    return [tokens[s:e] for s, e in zip(starts[:-1], starts[1:])]


def test_doc_aware_score_independent_of_document_order(tiny_model, val_slice, table):
    docs = _docs(val_slice)[:-1]  # whole documents only
    assert len(docs) >= 5
    bos = np.array([1], dtype=val_slice.dtype)
    fwd = np.concatenate(docs + [bos])  # a closing BOS: every document keeps its end-of-document target
    rng = np.random.default_rng(0)
    shuffled = np.concatenate([docs[i] for i in rng.permutation(len(docs))] + [bos])
    a = score_stream(tiny_model, fwd, table, L, 2048, stride=32, doc_aware=True)
    b = score_stream(tiny_model, shuffled, table, L, 2048, stride=32, doc_aware=True)
    assert a["bytes"] == b["bytes"]
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-6 * a["val_loss"]
    # without document awareness the context crosses documents, so the order matters
    c = score_stream(tiny_model, fwd, table, L, 2048, stride=32)
    d = score_stream(tiny_model, shuffled, table, L, 2048, stride=32)
    assert abs(c["val_loss"] - d["val_loss"]) > 1e-6 * c["val_loss"]


def _naive_stride1(model, tokens, doc_aware):
    """Target p from tokens[max(start, p - L) : p]: start = 0, or the start of p-1's document."""
    total = 0.0
    with torch.no_grad():
        for p in range(1, len(tokens)):
            start = 0
            if doc_aware:
                bos = np.flatnonzero(tokens[:p] == 1)
                start = int(bos[-1]) if len(bos) else 0
            ctx = torch.from_numpy(tokens[max(start, p - L) : p].astype(np.int64))[None]
            logits = model.forward_logits(ctx)[0, -1]
            total += torch.nn.functional.cross_entropy(logits[None], torch.tensor([int(tokens[p])])).item()
    return total / (len(tokens) - 1)


def test_stride_one_matches_a_naive_per_token_loop(tiny_model, val_slice, table):
    tokens = val_slice[400:560]  # crosses a document start (position 523 of the slice)
    assert (tokens == 1).any()
    for doc in (False, True):
        res = score_stream(tiny_model, tokens, table, L, 2048, stride=1, doc_aware=doc)
        ref = _naive_stride1(tiny_model, tokens, doc)
        assert abs(res["val_loss"] - ref) < 1e-5 * ref, (doc, res["val_loss"], ref)
