"""The training run: compile warm-up, the timed loop, GPTQ calibration, the checkpoint.

The clock counts only training steps: validation and the compile warm-up (on training data,
after which weights and optimizer state are reset) are outside it. The warm-down follows the
clock (see ``optim/schedule.py``), so the run ends on time on any hardware. With
``wallclock_guard`` the steps lead instead: ``iterations`` ends the run and paces the schedule,
so the numbers do not depend on the machine's speed, and the clock only stops a run that
overruns it (said loudly in the log and in the summary's ``stopped_by``).

Training ends at ``checkpoint.pt``; the export stage (``pgolf/export.py``) turns the trained
model into the artifact, the packed ``train_gpt.py`` and the round-trip score. GPTQ calibration
reads training data and counts against the training clock (training + calibration <=
``max_wallclock_seconds``), so it runs here, through the :class:`Calibration` the export stage
hands in: its reserve is measured before the clock starts and its Hessians are collected after
the last step, both inside this stage.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from pgolf import dist as pdist
from pgolf.config import Config
from pgolf.config_checks import micro_batch
from pgolf.data.loader import train_loader
from pgolf.errors import PgolfError
from pgolf.model import build_model
from pgolf.model.checkpoint import CHECKPOINT_NAME, save_checkpoint
from pgolf.optim.build import build_optimizers
from pgolf.optim.ema import EMA
from pgolf.optim.schedule import loop_enabled, lr_for, muon_momentum, train_budget_ms
from pgolf.optim.muon import Muon
from pgolf.train.batch import average_gradients
from pgolf.train.runlog import RunLog, code_version, environment, new_run_id


def resolve_run_id(cfg: Config) -> Config:
    """``cfg`` with a run id: its own, else a time stamp (rank 0's, on every rank)."""
    return cfg if cfg.run_id else cfg.replace(run_id=pdist.broadcast_object(new_run_id()))


@dataclass
class Calibration:
    """What calibrates inside the training clock (``pgolf.quant.calibrate`` supplies both):
    ``reserve(model, cfg, device, local_tokens) -> (cfg, log line or None)`` before the clock
    starts, ``collect(model, loader, cfg, device, local_tokens) -> Hessians or None`` after
    the last step."""

    reserve: Callable
    collect: Callable


@dataclass
class Trained:
    """What the training stage hands on: the trained model (EMA weights loaded, also saved as
    ``checkpoint.pt``), the run's final config, its folder and open log, the calibration
    Hessians (None without GPTQ), and the summary fields of training."""

    model: torch.nn.Module
    cfg: Config
    run_dir: Path
    log: RunLog
    hessians: dict | None
    summary: dict


def schedule_budget_ms(cfg: Config) -> float:
    """The clock the LR schedule and the loop switch follow: none (steps) when it is only a guard."""
    return 0.0 if cfg.wallclock_guard else train_budget_ms(cfg)


def _use_compile(cfg: Config, device: torch.device) -> bool:
    return cfg.compile == "on" or (cfg.compile == "auto" and device.type == "cuda")


class Trainer:
    """Holds the model, optimizers and data of one run; ``step()`` is one optimizer step."""

    def __init__(self, cfg: Config, ctx: pdist.DistContext):
        self.cfg, self.ctx = cfg, ctx
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, ctx.device)
        core = (torch.compile(self.model, dynamic=False, fullgraph=cfg.compile_fullgraph)
                if _use_compile(cfg, ctx.device) else self.model)
        self.net = (DDP(core, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                        broadcast_buffers=False)  # the only buffers are constants (RoPE frequencies)
                    if ctx.distributed else core)
        self.opts = build_optimizers(self.model, cfg)
        self.accum, self.local_tokens = micro_batch(cfg, ctx.world_size)
        self.loader = train_loader(cfg, ctx.rank, ctx.world_size)
        self.packed_segments = cfg.train_loader == "packed" and cfg.doc_isolation
        self.autocast = pdist.autocast(ctx.device)
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.looping = False  # depth recurrence in the training forward: off until loop_enable_frac

    def _update_recurrence(self, step: int, elapsed_ms: float) -> None:
        """Switch depth recurrence on once training passes loop_enable_frac (every rank agrees);
        each step passes ``self.looping`` to the model's forward."""
        cfg = self.cfg
        if cfg.loop_extra <= 0 or self.looping:
            return
        self.looping = pdist.any_rank(loop_enabled(cfg, step, elapsed_ms, schedule_budget_ms(cfg)), self.ctx.device)

    def step(self, step: int, elapsed_ms: float) -> torch.Tensor:
        cfg = self.cfg
        for opt in self.opts:
            opt.zero_grad(set_to_none=True)
        self._update_recurrence(step, elapsed_ms)
        # grad_clip_scope=rank: each rank clips its own gradient, then the ranks average them
        rank_clip = cfg.grad_clip_norm > 0 and cfg.grad_clip_scope == "rank" and self.ctx.distributed
        total = torch.zeros((), device=self.ctx.device)
        for micro in range(self.accum):
            if self.packed_segments:  # the record's attention segments: documents cut every train_seq_len
                x, y, cu = self.loader.next_packed(self.local_tokens, cfg.train_seq_len, self.ctx.device)
                seg = dict(cu_seqlens=cu, max_seqlen=cfg.train_seq_len)
            else:
                x, y = self.loader.next_batch(self.local_tokens, cfg.train_seq_len, self.ctx.device)
                seg = {}
            reduce_now = micro == self.accum - 1 and not rank_clip
            sync = contextlib.nullcontext() if (reduce_now or not self.ctx.distributed) else self.net.no_sync()
            with sync:
                with self.autocast:
                    loss = self.net(x, y, looping=self.looping, **seg)
                (loss / self.accum).backward()
            total += loss.detach()
        mult = lr_for(cfg, step, elapsed_ms, schedule_budget_ms(cfg))
        momentum = muon_momentum(step, cfg.muon_momentum_warmup_start, cfg.muon_momentum, cfg.muon_momentum_warmup_steps)
        for opt in self.opts:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * mult
                if isinstance(opt, Muon):
                    group["momentum"] = momentum
        if cfg.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm)
        if rank_clip:
            average_gradients(self.model.parameters())
        for opt in self.opts:
            opt.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return total / self.accum

    def warmup_and_reset(self, steps: int) -> None:
        """Run ``steps`` steps on training data (to compile), then restore the initial state."""
        if steps <= 0:
            return
        model_state = copy.deepcopy(self.model.state_dict())
        opt_states = [copy.deepcopy(o.state_dict()) for o in self.opts]
        for s in range(steps):
            if self.cfg.loop_extra > 0:  # compile the looped graph too, in the second half
                self.looping = s >= steps // 2
            self.step(s, 0.0)
        self.model.load_state_dict(model_state)
        for opt, st in zip(self.opts, opt_states):
            opt.load_state_dict(st)
        self.loader.reset()
        self.looping = False
        if self.ema is not None:
            self.ema = EMA(self.model, self.cfg.ema_decay)
        pdist.sync(self.ctx.device)


def _progress_bar(cfg: Config, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    if cfg.max_wallclock_seconds > 0 and not cfg.wallclock_guard:
        return tqdm(total=round(cfg.max_wallclock_seconds), unit="s", desc="train", leave=False)
    return tqdm(total=cfg.iterations, unit="step", desc="train", leave=False)


def train(cfg: Config, ctx: pdist.DistContext, validate: Callable[[torch.nn.Module], dict],
          calibration: Calibration | None = None, progress: bool = False, echo: bool = True,
          open_mirror=None) -> Trained:
    """Train ``cfg`` in ``runs/<run_id>/`` and end at its checkpoint.

    ``validate(model) -> {"val_loss", "val_bpb"}`` scores the val split (every
    ``val_loss_every`` steps and at the end; outside the clock). ``open_mirror(cfg, run_dir)``
    opens the experiment tracker that ``cfg.tracker`` names (see ``runlog.RunLog``).
    """
    if cfg.tracker != "none" and open_mirror is None:
        raise PgolfError(f"tracker={cfg.tracker} works from `pgolf train` and `pgolf run`, not from this entry point")
    cfg = resolve_run_id(cfg)
    progress = progress and ctx.is_main
    run_dir = Path(cfg.out_dir) / cfg.run_id
    mirror = open_mirror(cfg, run_dir) if (open_mirror is not None and ctx.is_main and cfg.tracker != "none") else None
    log = RunLog(run_dir, enabled=ctx.is_main, echo=echo, mirror=mirror)
    log.json("config.json", cfg.to_dict())
    env = dict(environment(), world_size=ctx.world_size, device=str(ctx.device), code_version=code_version())
    log.line(f"run_id:{cfg.run_id} " + " ".join(f"{k}:{v}" for k, v in env.items()))
    log.line("config: " + " ".join(f"{k}={v}" for k, v in sorted(cfg.to_dict().items())))

    trainer = Trainer(cfg, ctx)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    log.line(f"model_params:{n_params} world_size:{ctx.world_size} grad_accum_steps:{trainer.accum} "
             f"seq_len:{cfg.train_seq_len} batch_tokens:{cfg.train_batch_tokens}")

    if _use_compile(cfg, ctx.device):
        t = time.perf_counter()
        trainer.warmup_and_reset(cfg.warmup_steps)
        log.line(f"warmup_steps:{cfg.warmup_steps} warmup_time:{1000 * (time.perf_counter() - t):.0f}ms (not timed)")

    if calibration is not None:
        cfg, reserve_line = calibration.reserve(trainer.model, cfg, ctx.device, trainer.local_tokens)
        if reserve_line:  # the budget rule, and with gptq_reserve_auto the reserve it measured
            log.line(reserve_line)
        if cfg is not trainer.cfg:  # the measured reserve is the run's setting from here on
            trainer.cfg = cfg
            log.json("config.json", cfg.to_dict())
    cap_ms = train_budget_ms(cfg)  # less the GPTQ calibration reserve
    bar = _progress_bar(cfg, progress)
    train_ms, step, stop_after, last_val, stopped_by = 0.0, 0, None, None, "iterations"
    pdist.sync(ctx.device)
    t0 = time.perf_counter()
    while True:
        last = step == cfg.iterations or (stop_after is not None and step >= stop_after)
        if last or (cfg.val_loss_every > 0 and step > 0 and step % cfg.val_loss_every == 0):
            pdist.sync(ctx.device)
            train_ms += 1000 * (time.perf_counter() - t0)
            if last and trainer.ema is not None:  # the final score and the export use the averaged weights
                trainer.ema.copy_to(trainer.model)
                log.line(f"ema: loaded the weight average (decay {cfg.ema_decay}) for the final eval and export")
            last_val = validate(trainer.model)
            log.line(f"step:{step}/{cfg.iterations} val_loss:{last_val['val_loss']:.4f} val_bpb:{last_val['val_bpb']:.4f} "
                     f"train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")
            log.metric(step=step, train_time_ms=round(train_ms), val_loss=last_val["val_loss"], val_bpb=last_val["val_bpb"])
            pdist.sync(ctx.device)
            t0 = time.perf_counter()
        if last:
            break
        loss = trainer.step(step, train_ms + 1000 * (time.perf_counter() - t0))
        step += 1
        now_ms = train_ms + 1000 * (time.perf_counter() - t0)
        if cfg.train_log_every > 0 and (step % cfg.train_log_every == 0 or step <= 10):
            train_loss = pdist.all_reduce_mean(loss.detach().clone()).item()
            if not math.isfinite(train_loss):
                log.line(f"step:{step} train_loss:{train_loss} — diverged, stopping")
                stop_after, stopped_by = step, "diverged"
            log.line(f"step:{step}/{cfg.iterations} train_loss:{train_loss:.4f} train_time:{now_ms:.0f}ms step_avg:{now_ms / step:.2f}ms")
            log.metric(step=step, train_time_ms=round(now_ms), train_loss=train_loss)
        if bar is not None:
            bar.n = min(round(now_ms / 1000), bar.total) if (cap_ms > 0 and not cfg.wallclock_guard) else step
            bar.refresh()
        if stop_after is None and cap_ms > 0 and pdist.any_rank(now_ms >= cap_ms, ctx.device):
            stop_after, stopped_by = step, "wallclock"
    if bar is not None:
        bar.close()
    log.line(f"stopping at step:{step}/{cfg.iterations} train_time:{train_ms:.0f}ms")
    if cfg.wallclock_guard and stopped_by == "wallclock":
        log.line(f"WARNING: the wall-clock guard (max_wallclock_seconds={cfg.max_wallclock_seconds:g}) stopped "
                 f"training at step {step} of {cfg.iterations}: this run is NOT the step-bounded recipe and its "
                 f"score is not comparable")
    peak_mem = pdist.peak_memory_bytes(ctx.device)
    hessians = None
    if calibration is not None:  # inside the budget: the clock above stopped a reserve early for it
        t = time.perf_counter()
        hessians = calibration.collect(trainer.model, trainer.loader, cfg, ctx.device, trainer.local_tokens)
        if hessians is not None:
            pdist.sync(ctx.device)
            calib_ms = 1000 * (time.perf_counter() - t)
            log.line(f"gptq_calibration batches:{cfg.gptq_calib_batches} source:{cfg.gptq_calib_source} "
                     f"time:{calib_ms:.0f}ms train_plus_calibration:{train_ms + calib_ms:.0f}ms "
                     f"budget:{cfg.max_wallclock_seconds * 1000:.0f}ms")
    if ctx.device.type == "cuda":
        log.line(f"peak memory allocated: {peak_mem // 2**20} MiB")
    if ctx.is_main:
        save_checkpoint(run_dir / CHECKPOINT_NAME, cfg.to_dict(), trainer.model.state_dict())
    pdist.barrier()
    summary = dict(steps=step, stopped_by=stopped_by, train_seconds=train_ms / 1000, pre_quant_val_bpb=last_val["val_bpb"],
                   pre_quant_val_loss=last_val["val_loss"], peak_memory_bytes=peak_mem)
    return Trained(trainer.model, cfg, run_dir, log, hessians, summary)
