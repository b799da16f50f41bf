"""GPTQ calibration on training data only, and the clock it is allowed.

The budget rule: training + calibration <= ``max_wallclock_seconds``. With ``quant_scheme=gptq``
and a wall-clock cap, training stops ``gptq_reserve_seconds`` early (the warm-down follows the
shorter clock) and the Hessians are collected after the last step. With
``gptq_reserve_auto=true`` the reserve is measured before the clock starts, on the machine the
run is on: one calibration batch is timed (the second of two, so one-time start-up costs are
left out; the slowest rank counts), and the reserve becomes
``gptq_reserve_seconds + gptq_reserve_margin * gptq_calib_batches * t_batch``, stated in one log
line. The run then carries the resolved number (``gptq_reserve_auto`` off) in its config.

Calibration batches (``gptq_calib_source``): ``random`` draws ``gptq_calib_batches`` batches of
random training windows (``RandomWindows``); ``loader`` takes the next micro-batches of the
training loader. Either way a batch holds the run's per-rank micro-batch tokens, and the only
data source is the train split.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from pgolf.config import validate
from pgolf.data.shards import HEADER_BYTES, read_header, shard_files
from pgolf.dist import all_reduce_max, all_reduce_mean, autocast, rank_world, sync
from pgolf.errors import PgolfError
from pgolf.optim.schedule import train_budget_ms
from pgolf.quant.gptq import collect_hessians



class RandomWindows:
    """Random windows of ``seq_len + 1`` train tokens, drawn as the 1.0611 record draws its
    calibration batches.

    Rank r reads shards r, r + world, ... (all shards when there are fewer than ranks). Each
    shard's windows start at one random phase below ``seq_len`` and come in a random order; each
    window of a batch comes from a shard picked with probability proportional to the windows it
    has left, and every shard is refilled once all are spent. The generator is seeded by the
    rank, so the same data and world size give the same windows on every run.
    """

    def __init__(self, data_path: str, rank: int, world: int, seq_len: int):
        files = shard_files(data_path, "train")
        self.files = files[rank::world] or files
        self.seq_len = seq_len
        self.sizes = [read_header(f) for f in self.files]
        self.rng = np.random.Generator(np.random.PCG64(rank))
        self._maps: dict[int, np.ndarray] = {}
        self._refill()

    def _starts(self, n: int) -> list[int]:
        top = min(self.seq_len - 1, max(0, n - self.seq_len - 1))
        phase = int(self.rng.integers(top + 1)) if top > 0 else 0
        count = max(0, (n - 1 - phase) // self.seq_len)
        return (phase + self.rng.permutation(count) * self.seq_len).tolist()

    def _refill(self) -> None:
        self.starts = [self._starts(n) for n in self.sizes]
        if not any(self.starts):
            raise PgolfError(f"{self.files[0].parent}: no train shard holds a window of {self.seq_len + 1} tokens")

    def _tokens(self, i: int) -> np.ndarray:
        if i not in self._maps:
            self._maps[i] = np.memmap(self.files[i], dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(self.sizes[i],))
        return self._maps[i]

    def next_batch(self, local_tokens: int, seq_len: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        rows, width = max(local_tokens // self.seq_len, 1), self.seq_len + 1
        left = np.array([len(s) for s in self.starts], dtype=np.float64)
        out = np.empty((rows, width), dtype=np.int64)
        for r in range(rows):
            if left.sum() <= 0:
                self._refill()
                left = np.array([len(s) for s in self.starts], dtype=np.float64)
            i = int(self.rng.choice(len(self.files), p=left / left.sum()))
            start = self.starts[i].pop()
            left[i] -= 1
            out[r] = self._tokens(i)[start : start + width]
        t = torch.from_numpy(out)
        return t[:, :-1].to(device), t[:, 1:].to(device)


def _windows(cfg) -> RandomWindows:
    return RandomWindows(cfg.data_path, *rank_world(), cfg.train_seq_len)


def calibrate(model: torch.nn.Module, loader, cfg, device: torch.device, local_tokens: int) -> dict[str, torch.Tensor] | None:
    """Hessians of the quantized weights from training batches (None unless gptq), averaged over ranks."""
    if cfg.quant_scheme != "gptq" or cfg.gptq_calib_batches <= 0:
        return None
    source = loader if cfg.gptq_calib_source == "loader" else _windows(cfg)
    batches = (source.next_batch(local_tokens, cfg.train_seq_len, device) for _ in range(cfg.gptq_calib_batches))
    with autocast(device):
        hs = collect_hessians(model, batches, cfg.quant_keep_float_numel)
    for h in hs.values():
        all_reduce_mean(h)
    return hs


def batch_seconds(model: torch.nn.Module, cfg, device: torch.device, local_tokens: int) -> float:
    """Wall seconds of one calibration batch here (the second of two: the first pays one-time
    start-up costs), the slowest rank's. Draws its own random windows: the training loader and
    the calibration batches are untouched."""
    source, times = _windows(cfg), []
    for _ in range(2):
        sync(device)
        t = time.perf_counter()
        with autocast(device):
            collect_hessians(model, [source.next_batch(local_tokens, cfg.train_seq_len, device)], cfg.quant_keep_float_numel)
        sync(device)
        times.append(time.perf_counter() - t)
    per = torch.tensor(times[-1], dtype=torch.float64, device=device)
    return float(all_reduce_max(per))


def reserve_rule(cfg, batch_s: float | None = None):
    """(cfg, log line) of the budget rule. With ``batch_s`` (``gptq_reserve_auto``) the reserve
    becomes ``gptq_reserve_seconds + gptq_reserve_margin * gptq_calib_batches * batch_s``, written
    into ``gptq_reserve_seconds`` with ``gptq_reserve_auto`` off; else ``cfg`` is unchanged."""
    rule = f"(rule: train + calibration <= {cfg.max_wallclock_seconds:g}s)"
    if batch_s is None:
        return cfg, f"gptq_reserve:fixed {cfg.gptq_reserve_seconds:g}s train_budget:{train_budget_ms(cfg):.0f}ms {rule}"
    reserve = cfg.gptq_reserve_seconds + cfg.gptq_reserve_margin * cfg.gptq_calib_batches * batch_s
    # the measured reserve is the run's setting from here on, checked like any other
    new = validate(cfg.replace(gptq_reserve_seconds=round(reserve, 3), gptq_reserve_auto=False))
    return new, (f"gptq_reserve:auto one_batch:{1000 * batch_s:.1f}ms x {cfg.gptq_calib_batches} batches x margin "
                 f"{cfg.gptq_reserve_margin:g} + {cfg.gptq_reserve_seconds:g}s = {new.gptq_reserve_seconds:g}s "
                 f"train_budget:{train_budget_ms(new):.0f}ms {rule}")


def resolve_reserve(model: torch.nn.Module, cfg, device: torch.device, local_tokens: int):
    """(cfg, log line) before the clock starts: the reserve measured here with
    ``gptq_reserve_auto``, the fixed one otherwise; (cfg, None) when no reserve applies."""
    if cfg.quant_scheme != "gptq" or cfg.max_wallclock_seconds <= 0 or cfg.gptq_calib_batches <= 0:
        return cfg, None
    per = batch_seconds(model, cfg, device, local_tokens) if cfg.gptq_reserve_auto else None
    return reserve_rule(cfg, per)
