"""torchrun / DDP helpers: who am I, which device, and the global batch split per rank."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from pgolf.config import Config
from pgolf.errors import PgolfError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(cfg: Config, local_rank: int = 0) -> torch.device:
    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise PgolfError("device=cuda but no CUDA GPU is visible")
    return torch.device("cuda", local_rank)


def setup(cfg: Config, environ: dict[str, str]) -> DistContext:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (passed in, never looked up here)."""
    world = int(environ.get("WORLD_SIZE", "1"))
    rank = int(environ.get("RANK", "0"))
    local_rank = int(environ.get("LOCAL_RANK", "0"))
    device = pick_device(cfg, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, local_rank, device)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def micro_batch(cfg: Config, world: int) -> tuple[int, int]:
    """(micro-steps per rank, tokens per rank per micro-step); errors if the batch does not split."""
    if cfg.grad_accum_total % world:
        raise PgolfError(f"grad_accum_total={cfg.grad_accum_total} is not divisible by world size {world}")
    accum = cfg.grad_accum_total // world
    local, rem = divmod(cfg.train_batch_tokens, world * accum)
    if rem or local % cfg.train_seq_len or local == 0:
        raise PgolfError(
            f"train_batch_tokens={cfg.train_batch_tokens} does not split into {world * accum} micro-batches "
            f"of whole train_seq_len={cfg.train_seq_len} sequences"
        )
    return accum, local


def average_gradients(params) -> None:
    """Average every ``.grad`` over the ranks in place: one all-reduce per gradient dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    world = dist.get_world_size()
    for grads in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)  # gloo has no AVG
        flat /= world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
