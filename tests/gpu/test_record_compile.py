"""The record model at full size on CUDA: torch.compile(fullgraph=True) traces its training step
as one graph with the loop off and on, at the training micro-batch shape (which also fills the
compile cache the later phases of `pgolf bench gpu` reuse); the compiled bf16 loss equals an eager
SDPA forward of the same weights; the compiled micro-step's peak memory fits an H100."""

from __future__ import annotations

import math
import time

import torch

import pgolf
from pgolf.bench.gpu import record_config
from pgolf.config_checks import micro_batch
from tests.gpu.kit import GPU, H100_BYTES, doc_batch

pytestmark = GPU


def test_record_compiles_fullgraph_at_full_size(record_property):
    cfg = record_config()
    _, local = micro_batch(cfg, 1)  # the training micro-batch (the same on 1 or 8 GPUs)
    torch.manual_seed(cfg.seed)
    model = pgolf.build_model(cfg).cuda().train()
    compiled = torch.compile(model, dynamic=False, fullgraph=True)
    ids = doc_batch(local // cfg.train_seq_len, cfg.train_seq_len + 1, cfg.vocab_size, cfg.bos_id, seed=5).cuda()
    x, y = ids[:, :-1], ids[:, 1:]
    losses = {}
    for loop in ((False, True) if cfg.loop_extra > 0 else (False,)):
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = compiled(x, y, looping=loop)
        loss.backward()
        torch.cuda.synchronize()
        tag = "looped" if loop else "plain"
        record_property(f"compile_seconds_{tag}", round(time.perf_counter() - t, 1))
        record_property(f"peak_memory_bytes_{tag}", torch.cuda.max_memory_allocated())
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        assert torch.cuda.max_memory_allocated() < 0.95 * H100_BYTES
        losses[loop] = loss.item()
    assert abs(losses[False] - math.log(cfg.vocab_size)) < 1.0  # an untrained model is near uniform
    record_property("micro_batch_tokens", local)
    # the same weights, eager, through SDPA with a dense mask: the compiled attention path agrees
    ref = pgolf.build_model(cfg.replace(attn_backend="sdpa")).cuda().train()
    ref.load_state_dict(model.state_dict())
    for loop, value in losses.items():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            eager = ref(x, y, looping=loop).item()
        record_property(f"loss_compiled_minus_eager_{'looped' if loop else 'plain'}", value - eager)
        assert abs(value - eager) < 1e-2 * eager, f"loop={loop}: compiled {value:.5f} vs eager SDPA {eager:.5f}"
