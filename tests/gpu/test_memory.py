"""Peak memory of a full-size baseline step on CUDA (eager, bf16 autocast): one micro-batch of an
8-GPU run's size forward and backward, then the optimizer step, must fit an H100's 80 GB."""

from __future__ import annotations

import pytest
import torch

import pgolf
from pgolf.config import load_config
from pgolf.train.batch import micro_batch
from tests.gpu.kit import GPU, H100_BYTES, doc_batch

pytestmark = GPU


def test_full_size_baseline_step_fits_an_h100(record_property):
    build = pytest.importorskip("pgolf.optim.build").build_optimizers
    cfg = load_config("baseline")
    _, local = micro_batch(cfg, 1)  # a micro-step: the same on one GPU as on each of 8 ranks
    torch.manual_seed(0)
    model = pgolf.build_model(cfg).cuda().train()
    opts = build(model, cfg)
    ids = doc_batch(local // cfg.train_seq_len, cfg.train_seq_len + 1, cfg.vocab_size, cfg.bos_id, seed=4).cuda()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(ids[:, :-1], ids[:, 1:])
    loss.backward()
    for o in opts:
        o.step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    record_property("micro_batch_tokens", local)
    record_property("peak_memory_bytes", peak)
    assert torch.isfinite(loss)
    assert peak < 0.95 * H100_BYTES
