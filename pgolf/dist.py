"""Distributed and device helpers, the one place for them: who am I (rank, world), the
collectives every stage uses, the device choice, device syncs and the bf16 autocast.

Every collective is a no-op in a single process, so callers never test ``dist.is_initialized()``
themselves. gloo (CPU) has no AVG reduction: means are a SUM divided by the world size.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    return (dist.get_rank(), dist.get_world_size()) if initialized() else (0, 1)


def pick_device(cfg, local_rank: int = 0) -> torch.device:
    """``cfg.device``: cpu, cuda, or auto (the GPU when one is visible)."""
    from pgolf.errors import PgolfError

    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise PgolfError("device=cuda but no CUDA GPU is visible")
    return torch.device("cuda", local_rank)


def setup(cfg, environ: dict[str, str]) -> DistContext:
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
    if initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if initialized():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over the ranks in place; returns it."""
    if initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Average ``t`` over the ranks in place (a SUM, then / world: gloo has no AVG); returns it."""
    if initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= dist.get_world_size()
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """The largest ``t`` of any rank, in place; returns it."""
    if initialized():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any (so all ranks take the same branch)."""
    if not initialized():
        return flag
    return bool(all_reduce_max(torch.tensor(int(flag), device=device)).item())


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank."""
    if not initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj) -> list:
    """Every rank's ``obj``, in rank order (a one-item list in a single process)."""
    if not initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def sync(device: torch.device | str) -> None:
    """Wait for queued GPU work (before reading a clock); nothing on CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device | str):
    """bf16 autocast on CUDA, nothing elsewhere (CPU runs in fp32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA: the allocator's peak since the last reset; CPU: this process's peak resident set."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB
