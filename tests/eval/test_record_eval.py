"""`pgolf eval` against the 1.0611 record's own eval code, same weights and val tokens.

The record's model at small dims (looped layers, lanes, every gate on, every parameter random)
and its weights in ours through ``pgolf.load_reference_weights``; a val stream of documents of
many lengths (some longer than the window, several windows long) with a byte sidecar. Both sides
score it document-aware in packed rows (the record's ``eval_val``) and with phased score-first
TTT (``eval_val_ttt_phased``, one process) at the record's settings scaled down: rank 4 LoRA,
chunks of 16 in windows of 64, 4 documents a batch (with a remainder batch), 3 cumulative global
phases over 10 documents in 256-token chunks of two SGD steps each. Then the same TTT on two
gloo ranks against one process.
"""

import json
import os
import socket
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pgolf
from pgolf.config import Config, load_config
from pgolf.eval.strategy import evaluate_model
from tests.model.test_reference import OUR_SWITCHES, RECORD_SWITCHES, SHAPES

L, CHUNK, DOCS_PER_BATCH, ROW = 64, 16, 4, 256
SHAPE = "4x64_loop1_lanes3"
SEED = 7
# the record's TTT settings, scaled down; (record attribute, our field, value)
TTT = [
    ("ttt_lora_rank", "ttt_lora_rank", 4), ("ttt_lora_lr", "ttt_lora_lr", 3e-3),
    ("ttt_chunk_size", "ttt_chunk_tokens", CHUNK), ("ttt_batch_size", "ttt_batch_docs", DOCS_PER_BATCH),
    ("ttt_grad_steps", "ttt_steps", 1), ("ttt_weight_decay", "ttt_weight_decay", 0.5),
    ("ttt_beta1", "ttt_beta1", 0.0), ("ttt_beta2", "ttt_beta2", 0.99),
    ("phased_ttt_prefix_docs", "ttt_prefix_docs", 10), ("phased_ttt_num_phases", "ttt_phases", 3),
    ("global_ttt_lr", "ttt_global_lr", 3e-3), ("global_ttt_momentum", "ttt_global_momentum", 0.9),
    ("global_ttt_epochs", "ttt_global_epochs", 1), ("global_ttt_chunk_tokens", "ttt_global_chunk_tokens", 4 * L),
    ("global_ttt_batch_seqs", "ttt_global_batch_seqs", 2), ("global_ttt_grad_clip", "ttt_global_grad_clip", 1.0),
]


def _stream(n_docs=31, seed=0):
    """Documents of 2..300 tokens ([BOS] + ids), the stream a whole number of packed rows + 1."""
    rng = np.random.default_rng(seed)
    lens = list(rng.integers(2, 120, n_docs - 3)) + [150, 300, 190]
    docs = [np.concatenate([[1], rng.integers(2, 128, n - 1)]) for n in lens]
    tokens = np.concatenate(docs)
    pad = (-(len(tokens) - 1)) % ROW  # grow the last document to fill the last row
    tokens = np.concatenate([tokens, rng.integers(2, 128, pad)]).astype(np.int64)
    nbytes = np.where(tokens == 1, 0, rng.integers(1, 5, len(tokens)))  # a byte sidecar: bytes per token
    return tokens, nbytes


@pytest.fixture(scope="module")
def pair(record_script):
    ref = record_script
    hp, ours = SHAPES[SHAPE]
    h = ref.Hyperparameters()
    for k, v in {**RECORD_SWITCHES, **hp}.items():
        setattr(h, k, v)
    for k, _, v in TTT:
        setattr(h, k, v)
    h.eval_seq_len = h.ttt_eval_seq_len = L
    h.val_batch_tokens = 8 * ROW  # 8 = world_size * grad_accum_steps
    h.world_size, h.rank, h.grad_accum_steps, h.seed = 1, 0, 8, SEED
    h.ttt_k_lora = h.ttt_mlp_lora = h.ttt_o_lora = True
    h.ttt_optimizer, h.ttt_eval_batches, h.val_doc_fraction = "adam", "", 1.0
    h.global_ttt_warmup_chunks, h.global_ttt_warmup_start_lr, h.global_ttt_respect_doc_boundaries = 0, 0.0, True
    torch.manual_seed(0)
    r = ref.GPT(h)
    with torch.no_grad():  # every parameter random, the zero-initialised ones too
        for p in r.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    r.looping_active = True  # as the record evaluates
    for block in r.blocks:  # its global phases run in train mode: the Triton MLP off (the same maths)
        block.mlp.use_fused = False
    cfg = load_config("baseline", **OUR_SWITCHES, **ours, eval_seq_len=L, val_batch_size=8 * ROW, grad_accum_total=8,
                      eval_doc_aware=True, ttt_chains=1, ttt_lora_alpha=ref.BatchedLinearLoRA._ALPHA, seed=SEED,
                      **{field: v for _, field, v in TTT})
    model = pgolf.build_model(cfg)
    pgolf.load_reference_weights(model, r.state_dict())
    return ref, h, r, cfg, model.eval()


def _val_data(tokens, nbytes):
    return SimpleNamespace(val_tokens=torch.from_numpy(tokens), val_bytes=torch.from_numpy(nbytes.astype(np.int32)),
                           caseops_enabled=True, base_bytes_lut=None, has_leading_space_lut=None,
                           is_boundary_token_lut=None)


def test_doc_aware_eval_equals_the_records(pair, monkeypatch, tmp_path):
    ref, h, r, cfg, model = pair
    monkeypatch.setattr(ref, "BOS_ID", 1)
    tokens, nbytes = _stream()
    want_loss, want_bpb = ref.eval_val(h, "cpu", _val_data(tokens, nbytes), r)
    res = evaluate_model(model, tokens, None, cfg.replace(ttt_enabled=False), "cpu", target_bytes=nbytes[1:],
                         audit=str(tmp_path / "a.json"))
    assert res["strategy"] == f"nonoverlap+doc(seq_len={L},rows={ROW})"
    assert res["val_bpb"] == pytest.approx(want_bpb, abs=1e-5) and res["val_loss"] == pytest.approx(want_loss, abs=1e-5)
    assert res["audit"]["ok"], res["audit"]
    # the tolerance resolves the layout: windows side by side (the same model isolates documents
    # itself) cut every document at each window boundary, which the packed rows do not
    plain = evaluate_model(model, tokens, None, cfg.replace(ttt_enabled=False, eval_doc_aware=False), "cpu",
                           target_bytes=nbytes[1:])
    assert abs(plain["val_bpb"] - want_bpb) > 1e-4


def _record_ttt(pair):
    """The record's eval_val_ttt_phased on the small model and stream: (val_loss, val_bpb)."""
    ref, h, r, cfg, model = pair
    h.run_id = f"pgolf-test-{uuid.uuid4().hex}"  # its counter files in /tmp, removed below
    tokens, nbytes = _stream()
    state = {k: v.clone() for k, v in r.state_dict().items()}
    bos = ref.BOS_ID
    ref.BOS_ID = 1
    try:
        torch.manual_seed(SEED)  # the record draws its adapters' A from the global generator
        return ref.eval_val_ttt_phased(h, r, "cpu", _val_data(tokens, nbytes), r.forward_ttt)
    finally:
        ref.BOS_ID = bos
        for name in ("ttt_counter_", "ttt_prefix_counter_", "ttt_pause_flag_"):
            Path(f"/tmp/{name}{h.run_id}").unlink(missing_ok=True)
        r.load_state_dict(state)


def test_phased_ttt_equals_the_records(pair, tmp_path):
    ref, h, r, cfg, model = pair
    want_loss, want_bpb = _record_ttt(pair)
    tokens, nbytes = _stream()
    res = evaluate_model(model, tokens, None, cfg.replace(ttt_enabled=True), "cpu", target_bytes=nbytes[1:],
                         audit=str(tmp_path / "a.json"))
    assert res["phases"] == 3 and res["global_steps"] > 0 and res["lora_steps"] > 0
    assert res["val_bpb"] == pytest.approx(want_bpb, abs=1e-4) and res["val_loss"] == pytest.approx(want_loss, abs=1e-4)
    assert res["audit"]["ok"], res["audit"]
    # not a vacuous match: adaptation moved the score well beyond the tolerance
    still = evaluate_model(model, tokens, None, cfg.replace(ttt_enabled=True, ttt_lora_lr=0.0, ttt_global_lr=0.0),
                           "cpu", target_bytes=nbytes[1:])
    assert abs(still["val_bpb"] - want_bpb) > 1e-3


def _ttt_worker(rank: int, world: int, port: int, path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        saved = torch.load(path, weights_only=False)
        cfg = Config.from_dict(saved["cfg"])
        model = pgolf.build_model(cfg)
        model.load_state_dict(saved["state"])
        tokens, nbytes = _stream()
        res = evaluate_model(model.eval(), tokens, None, cfg, "cpu", target_bytes=nbytes[1:],
                             audit=str(Path(path).with_suffix(".audit.json")))
        if rank == 0:
            Path(path).with_suffix(".json").write_text(json.dumps(res))
    finally:
        dist.destroy_process_group()


def test_phased_ttt_on_two_gloo_ranks_equals_one_process(pair, tmp_path):
    """The record's layout (document-isolated packed rows, cut at BOS positions between ranks in
    the global phases) on 2 ranks, one chain each: the one process's numbers, and the audit of
    both ranks' trails passes."""
    ref, h, r, cfg, model = pair
    cfg = cfg.replace(ttt_enabled=True, ttt_chains=2)
    tokens, nbytes = _stream()
    one = evaluate_model(model, tokens, None, cfg, "cpu", target_bytes=nbytes[1:])
    path = tmp_path / "model.pt"
    torch.save({"cfg": cfg.to_dict(), "state": model.state_dict()}, path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ttt_worker, args=(2, port, str(path)), nprocs=2, join=True)
    two = json.loads(path.with_suffix(".json").read_text())
    assert two["phases"] == one["phases"] == 3 and two["global_steps"] == one["global_steps"] > 0
    assert two["lora_steps"] == one["lora_steps"] and two["inputs_global"] == one["inputs_global"]
    assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-6)
    assert two["audit"]["ok"], two["audit"]
    rep = json.loads(path.with_suffix(".audit.json").read_text())
    assert len(rep["ranks"]) == 2 and all(sum(e["kind"] == "sync" for e in k["events"]) == 3 for k in rep["ranks"])
