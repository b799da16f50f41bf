"""Gradient clipping on 2 gloo ranks: ``rank`` clips each rank's own gradient and then averages
(as the record does: it clips before its all-reduce), ``global`` clips the averaged gradient."""

from __future__ import annotations

import copy
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pgolf.config import load_config
from pgolf.dist import DistContext
from pgolf.train.trainer import Trainer
from tests.conftest import MINI_DATASET

CLIP = 0.05


def _local_grads(trainer: Trainer) -> list[torch.Tensor]:
    """This rank's own gradient of the step's micro-batches (the loader is rewound after)."""
    model = copy.deepcopy(trainer.model)
    for _ in range(trainer.accum):
        x, y = trainer.loader.next_batch(trainer.local_tokens, trainer.cfg.train_seq_len, trainer.ctx.device)
        (model(x, y) / trainer.accum).backward()
    trainer.loader.reset()
    return [p.grad.clone() for p in model.parameters()]


def _mean(ts: list[torch.Tensor]) -> list[torch.Tensor]:
    out = [t.clone() for t in ts]
    for t in out:
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return out


def _scaled(ts: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in ts]))
    assert norm > CLIP  # the clip is active
    return [t * min(1.0, CLIP / (norm.item() + 1e-6)) for t in ts]


def _worker(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        ctx = DistContext(rank, world, 0, torch.device("cpu"))
        for scope in ("rank", "global"):
            cfg = load_config("tiny", data_path=str(MINI_DATASET), grad_clip_norm=CLIP, grad_clip_scope=scope,
                              grad_accum_total=4)
            trainer = Trainer(cfg, ctx)
            local = _local_grads(trainer)
            want = _mean(_scaled(local)) if scope == "rank" else _scaled(_mean(local))
            trainer.step(0, 0.0)
            for p, w in zip(trainer.model.parameters(), want):
                torch.testing.assert_close(p.grad, w, rtol=1e-5, atol=1e-7, msg=scope)
        other = _mean(_scaled(local))  # the two scopes give different gradients here
        assert any((a - b).abs().max() > 1e-5 for a, b in zip(other, (p.grad for p in trainer.model.parameters())))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rank_scope_clips_each_ranks_gradient_before_averaging():
    mp.spawn(_worker, args=(2, _free_port()), nprocs=2, join=True)
