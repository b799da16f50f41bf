"""One entry for every eval strategy: the config picks it, the result says which and how long.

``evaluate_model`` is what both `pgolf eval` and the end of training call, so the two always agree.
Strategies: ``nonoverlap`` (the baseline), ``sliding`` (stride < window), either ``+doc`` (context
never crosses a BOS; non-overlapping on a document-isolated model: the record's packed rows),
and ``ttt`` (phased score-first test-time training, always per document).

Time: every phase reports wall seconds, and the whole eval an estimate for 8xH100 (see
:func:`estimate_8xh100`); above the 600 s eval budget the result carries a warning.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from pgolf.eval.audit import AuditTrail, build_report, write_report
from pgolf.dist import all_gather_object, rank_world, sync
from pgolf.eval.score import score_stream
from pgolf.eval.windows import check_geometry

EVAL_BUDGET_S = 600.0
H100_BF16_PEAK = 989e12  # dense bf16 FLOP/s of one H100 SXM
H100_MFU = 0.30  # assumed share of peak an eval forward reaches


def packed_row_tokens(cfg, seq_len: int) -> int:
    """Inputs per packed row of the document-aware eval: one micro-batch of ``val_batch_size``
    (split into ``grad_accum_total`` parts) in whole windows, as the record's eval_val."""
    return max(1, cfg.val_batch_size // max(1, cfg.grad_accum_total) // seq_len) * seq_len


def strategy_name(cfg, seq_len: int, packed: bool = False) -> str:
    if cfg.ttt_enabled:
        phases = (f",phases={cfg.ttt_phases}x{cfg.ttt_prefix_docs}docs,global_lr={cfg.ttt_global_lr:g}"
                  if cfg.ttt_global_lr > 0 and cfg.ttt_prefix_docs > 0 else "")
        return (f"ttt(lora_rank={cfg.ttt_lora_rank},lr={cfg.ttt_lora_lr:g},chunk={cfg.ttt_chunk_tokens},"
                f"docs={cfg.ttt_batch_docs},chains={cfg.ttt_chains}{phases},seq_len={seq_len})")
    stride = cfg.eval_stride or seq_len
    name = "nonoverlap" if stride == seq_len else f"sliding(stride={stride})"
    rows = f",rows={packed_row_tokens(cfg, seq_len)}" if packed else ""
    return f"{name}{'+doc' if cfg.eval_doc_aware else ''}(seq_len={seq_len}{rows})"


def forward_flops(model: torch.nn.Module, cfg, inputs: int, ctx_sum: int, extra_params: int = 0) -> float:
    """Forward FLOPs: 2 per weight (plus ``extra_params``, e.g. one row's adapters) per input
    token (the tied embedding counted once, as the head) plus attention, 4 * model_dim per
    (query, key) pair per virtual layer."""
    n_params = sum(p.numel() for p in model.parameters()) + extra_params
    layers = getattr(model, "num_virtual_layers", cfg.num_layers)
    return 2.0 * n_params * inputs + 4.0 * cfg.model_dim * layers * ctx_sum


def estimate_8xh100(seconds: float, flops: float, device: torch.device, world: int) -> dict:
    """Scale the measured time to 8xH100.

    On H100s the measured time scales linearly with ranks (``seconds * world / 8``). Elsewhere
    the measured throughput (FLOP/s on this device) is replaced by one H100 at ``H100_MFU`` of
    its bf16 peak, times 8 ranks with perfect scaling. Small models are latency-bound on a GPU,
    so for them this is a lower bound.
    """
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    measured = flops / max(seconds, 1e-9)
    if "H100" in name:
        est, basis = seconds * world / 8, f"measured on {world}x{name}, linear in ranks"
    else:
        est = flops / (8 * H100_BF16_PEAK * H100_MFU)
        basis = (f"counted FLOPs / (8 x H100 at {H100_MFU:.0%} of {H100_BF16_PEAK / 1e12:.0f} TFLOP/s bf16); "
                 f"measured {measured / 1e9:.2f} GFLOP/s on {world}x{name}")
    return {"seconds": est, "basis": basis, "flops": flops, "measured_flops_per_s": measured,
            "over_budget": est > EVAL_BUDGET_S}


def evaluate_model(model: torch.nn.Module, tokens: np.ndarray, table, cfg, device, seq_len: int = 0,
                   audit: str | None = None, progress: bool = False, target_bytes: np.ndarray | None = None) -> dict:
    """Score ``tokens`` by the strategy ``cfg`` names; optional audit report written to ``audit``.

    ``target_bytes``: bytes per target from the split's byte sidecar (None = the official rule).
    """
    device = torch.device(device)
    seq_len = seq_len or cfg.eval_seq_len or cfg.train_seq_len
    stride = cfg.eval_stride or seq_len
    check_geometry(seq_len, stride)
    rank, world = rank_world()
    trail = AuditTrail(len(tokens), cfg.vocab_size, rank) if audit else None
    bar = None
    if progress and rank == 0 and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(tokens) - 1, unit="tok", unit_scale=True, desc="eval", leave=False)
    t0 = time.perf_counter()
    try:
        if cfg.ttt_enabled:
            from pgolf.eval.ttt import adapter_params, score_ttt

            res = score_ttt(model, tokens, table, cfg, seq_len, device, trail, bar, target_bytes=target_bytes)
            phases = res.pop("phase_seconds")
            # a backward costs two forwards: adaptation steps 2x (no new forward), global steps 3x
            pairs = res.pop("pairs_scored")
            per_input = pairs / max(1, res["inputs_scored"])
            fwd = res["inputs_scored"] + 2 * res["inputs_adapted"]
            flops = (forward_flops(model, cfg, fwd, round(per_input * fwd), adapter_params(model, cfg))
                     + forward_flops(model, cfg, 3 * res["inputs_global"], 3 * res["inputs_global"] * seq_len // 2))
        else:
            res = score_stream(model, tokens, table, seq_len, cfg.val_batch_size, device, stride=stride,
                               doc_aware=cfg.eval_doc_aware, trail=trail, progress=bar,
                               target_bytes=target_bytes, row_tokens=packed_row_tokens(cfg, seq_len),
                               bos_id=cfg.bos_id)
            sync(device)
            phases = {"score": time.perf_counter() - t0}
            flops = forward_flops(model, cfg, res["inputs_read"], res["attn_pairs"])
    finally:
        if bar is not None:
            bar.close()
    total_s = time.perf_counter() - t0
    packed = res.pop("packed", False)
    res.update(strategy=strategy_name(cfg, seq_len, packed), seq_len=seq_len, stride=stride if not cfg.ttt_enabled else None,
               doc_aware=bool(cfg.eval_doc_aware or cfg.ttt_enabled), phase_seconds=phases, eval_seconds=total_s,
               estimate_8xh100=estimate_8xh100(total_s, flops, device, world))
    if trail is not None:
        records = [trail.rank_record()]
        if world > 1:
            records = all_gather_object(records[0])
        report = build_report(records, res["strategy"], len(tokens), cfg.vocab_size, trail.structure, trail.bos)
        if rank == 0:
            write_report(audit, report)
        res["audit"] = {"path": str(audit), "ok": report["ok"],
                        "failed": [k for k, c in report["checks"].items() if not c["ok"]]}
    return res
