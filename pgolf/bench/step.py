"""`pgolf bench step`: steady-state time of one real optimizer step, and what it means.

The step is the trainer's own (:class:`pgolf.train.trainer.Trainer`): same model, compile,
autocast, micro-batches, optimizers and data loader. Warm-up steps (compile, first allocations,
Muon's momentum buffers) run first and are not timed.

Model FLOPs per training token (forward + backward, the usual 3× forward):

    6 · N_matmul  +  6 · L · d · (T + 1)

``N_matmul`` counts the weights every token multiplies: all ``nn.Linear`` weights plus the tied
output head (``vocab · d``); the embedding lookup is free. The second term is causal attention:
per layer QKᵀ and AV cost 2·d·t each for a query that sees t keys, t averaged over the sequence
is (T + 1)/2, so 2·d·(T + 1) forward. (The PaLM convention counts 12·L·d·T, i.e. ignores the
causal mask; ours is the work a causal model needs.) Norms, RoPE, softcap and the loss are
left out. MFU = FLOPs per token × tokens/s ÷ device peak.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from pgolf.config import Config
from pgolf import dist as pdist
from pgolf.dist import peak_memory_bytes, sync as _sync
from pgolf.train.trainer import Trainer, _use_compile

FLOP_FORMULA = "6*N_matmul + 6*L*d*(T+1)  (N_matmul: Linear weights + tied head; causal attention)"

# Dense bf16 tensor-core peaks (TFLOPS, no sparsity) from NVIDIA's data sheets, matched against
# torch.cuda.get_device_name() in this order (the first substring found wins).
GPU_PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    ("H200", 989.4),  # same tensor cores as the H100 SXM, more memory bandwidth
    ("A100", 312.0),
]


def flops_per_token(model: nn.Module, cfg: Config) -> dict:
    """The FLOP count of one training token and its two terms (see the module docstring)."""
    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    if getattr(model, "lm_head", "absent") is None:  # tied: the embedding matrix is the head
        matmul += model.tok_emb.weight.numel()
    attention = 6 * cfg.num_layers * cfg.model_dim * (cfg.train_seq_len + 1)
    return {"matmul_params": matmul, "flops_per_token": 6 * matmul + attention,
            "attention_flops_per_token": attention, "formula": FLOP_FORMULA}


def device_peak(device: torch.device, override_tflops: float | None = None) -> tuple[float | None, str]:
    """(peak FLOP/s or None, where the number comes from)."""
    if override_tflops:
        return override_tflops * 1e12, f"--peak-tflops {override_tflops:g}"
    if device.type != "cuda":
        return None, "CPU: no stated peak, MFU not meaningful (pass --peak-tflops to set one)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_PEAK_TFLOPS:
        if key in name:
            return tflops * 1e12, f"{name}: dense bf16 {tflops:g} TFLOPS (data sheet, table '{key}')"
    return None, f"{name}: not in the peak table, MFU unknown (pass --peak-tflops)"


def measure_step(cfg: Config, warmup: int = 3, steps: int = 10, peak_tflops: float | None = None,
                 progress: bool = False) -> dict:
    """Build the run's Trainer, run ``warmup`` untimed steps, then time ``steps`` steps."""
    if warmup < 1 or steps < 1:
        raise ValueError("warmup and steps must be at least 1")
    ctx = pdist.setup(cfg, {})  # one process, one device
    trainer = Trainer(cfg, ctx)
    device = ctx.device
    flops = flops_per_token(trainer.model, cfg)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=warmup + steps, unit="step", desc="bench step", leave=False)
    t = time.perf_counter()
    for s in range(warmup):
        trainer.step(s, 0.0)
        if bar is not None:
            bar.update()
    _sync(device)
    warmup_s = time.perf_counter() - t
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    each_ms: list[float] = []
    events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)] if device.type == "cuda" else None
    t0 = last = time.perf_counter()
    if events:
        events[0].record()
    for s in range(steps):
        loss = trainer.step(warmup + s, 0.0)
        if events:  # GPU-side boundaries: no host sync inside the window
            events[s + 1].record()
        else:
            now = time.perf_counter()
            each_ms.append(1000 * (now - last))
            last = now
        if bar is not None:
            bar.update()
    _sync(device)
    total_ms = 1000 * (time.perf_counter() - t0)
    if bar is not None:
        bar.close()
    if events:
        each_ms = [events[i].elapsed_time(events[i + 1]) for i in range(steps)]
    step_ms = total_ms / steps
    tokens_per_s = cfg.train_batch_tokens / (step_ms / 1000)
    peak, peak_source = device_peak(device, peak_tflops)
    achieved = flops["flops_per_token"] * tokens_per_s
    return dict(
        device=str(device),
        dtype="bf16 autocast" if device.type == "cuda" else "fp32",
        compiled=_use_compile(cfg, device),
        params=n_params,
        batch_tokens=cfg.train_batch_tokens,
        seq_len=cfg.train_seq_len,
        grad_accum_total=cfg.grad_accum_total,
        warmup_steps=warmup,
        warmup_seconds=warmup_s,
        timed_steps=steps,
        step_ms=step_ms,
        step_ms_median=statistics.median(each_ms),
        step_ms_min=min(each_ms),
        step_ms_max=max(each_ms),
        tokens_per_s=tokens_per_s,
        achieved_tflops=achieved / 1e12,
        peak_tflops=None if peak is None else peak / 1e12,
        peak_source=peak_source,
        mfu=None if peak is None else achieved / peak,
        peak_memory_bytes=peak_memory_bytes(device),
        peak_memory_kind="torch.cuda.max_memory_allocated over the timed steps" if device.type == "cuda"
        else "process peak resident set (ru_maxrss), whole process",
        last_loss=float(loss.item()),
        **flops,
    )
