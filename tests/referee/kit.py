"""Synthetic record folders for the referee tests: logs as pgolf and as the official scripts print them."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

CODE = "print('a train_gpt.py stand-in')\n" * 10  # 330 bytes


def official_log(seed: int, bpb: float, loss: float, train_ms: float = 599_100.0, step_avg: float = 43.54,
                 model_bytes: int = 15_000_000, code_bytes: int = len(CODE), eval_ms: float = 1401.0,
                 layers: int = 9, world_size: int = 8, wallclock: float = 600.0, stop: bool = True,
                 iterations: int = 20000, head: tuple[str, ...] = (), tail: tuple[str, ...] = (),
                 prefix: str = "") -> str:
    """A log in the style of the challenge's baseline script (noise lines included): ``head`` goes
    first (a dumped source file, say), ``tail`` last (a later evaluation); ``prefix`` opens every
    line (a Unix time); ``stop=False`` ends on the step count instead of the clock."""
    steps = int(train_ms // step_avg) if stop else iterations
    lines = [
        *head,
        "W0318 14:37:59.159000 871689 site-packages/torch/distributed/run.py:852] *****",
        "NCCL version 2.27.5+cuda12.9",
        "val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=/root/data/tokenizers/fineweb_1024_bpe.model",
        "model_params:17059912",
        f"world_size:{world_size} grad_accum_steps:{8 // world_size}",
        f"num_layers:{layers} model_dim:512",
        f"train_batch_tokens:524288 train_seq_len:1024 iterations:{iterations} warmup_steps:20 "
        f"max_wallclock_seconds:{wallclock:.3f}",
        f"seed:{seed}",
        "warmup_step:1/20",
        f"step:0/{iterations} val_loss:6.9370 val_bpb:4.0978 train_time:0ms step_avg:0.01ms",
        f"step:1/{iterations} train_loss:6.9408 train_time:24ms step_avg:23.99ms",
        f"step:{steps}/{iterations} val_loss:{loss + 0.01:.4f} val_bpb:{bpb + 0.005:.4f} train_time:{train_ms:.0f}ms "
        f"step_avg:{step_avg:.2f}ms",
        *([f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{steps}/{iterations}"] if stop else []),
        "peak memory allocated: 10184 MiB reserved: 10200 MiB",
        "Serialized model: 67224983 bytes",
        f"Code size: {code_bytes} bytes",
        f"Serialized model int8+zlib: {model_bytes} bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)",
        f"Total submission size int8+zlib: {model_bytes + code_bytes} bytes",
        f"final_int8_zlib_roundtrip val_loss:{loss:.4f} val_bpb:{bpb:.4f} eval_time:{eval_ms:.0f}ms",
        f"final_int8_zlib_roundtrip_exact val_loss:{loss:.8f} val_bpb:{bpb:.8f}",
        *tail,
    ]
    return "\n".join(prefix + ln for ln in lines) + "\n"


def make_record(folder: Path, seeds=(1, 2, 3), bpbs=(1.2001, 1.2010, 1.1995), tpb: float = 0.4153,
                logs: dict[int, str] | None = None, model_bytes: int = 15_000_000, submission: dict | None = None,
                **log_kw) -> Path:
    """A complete, clean record folder; ``logs`` replaces the log text of given seeds."""
    import math

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_gpt.py").write_text(CODE)
    (folder / "README.md").write_text("# synthetic\n")
    losses = [b * math.log(2) / tpb for b in bpbs]
    for s, b, l in zip(seeds, bpbs, losses):
        text = (logs or {}).get(s) or official_log(s, b, l, model_bytes=model_bytes, **log_kw)
        (folder / f"train_seed{s}.log").write_text(text)
    sub = {
        "author": "Tester", "github_id": "tester", "name": "Synthetic", "blurb": "made by a test",
        "date": "2026-03-20T00:00:00Z", "track": "10min_16mb",
        "val_loss": round(statistics.mean(round(x, 8) for x in losses), 8),
        "val_bpb": round(statistics.mean(bpbs), 8),
        "val_bpb_std": round(statistics.stdev(bpbs), 8) if len(bpbs) > 1 else 0.0, "seeds": list(seeds),
        "seed_results": {str(s): {"val_bpb": b, "artifact_bytes": model_bytes + len(CODE)} for s, b in zip(seeds, bpbs)},
        "bytes_total": model_bytes + len(CODE), "bytes_code": len(CODE),
    }
    sub.update(submission or {})
    (folder / "submission.json").write_text(json.dumps(sub, indent=2))
    return folder


def make_run(folder: Path, seed: int, bpb: float, loss: float, code_version: str = "0aeb812c32ed",
             model_bytes: int = 91878, train_gpt: str | None = CODE, **config) -> Path:
    """A finished pgolf run folder (config.json, summary.json, train.log as training writes it, model)."""
    from pgolf.config import load_config

    cfg = load_config("tiny", seed=seed, run_id=folder.name, out_dir=str(folder.parent), **config).to_dict()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    (folder / "model.pgolf").write_bytes(bytes(range(256)) * (model_bytes // 256) + b"\0" * (model_bytes % 256))
    if train_gpt is not None:
        (folder / "train_gpt.py").write_text(train_gpt)
    code = len(train_gpt.encode()) if train_gpt is not None else 61514  # training logs the file it wrote
    log = [
        f"run_id:{folder.name} python:3.11.7 torch:2.13.0+cpu platform:Linux-6-x86_64 cuda:None gpu:None cpu_threads:2 "
        f"world_size:1 device:cpu code_version:{code_version}",
        "config: " + " ".join(f"{k}={v}" for k, v in sorted(cfg.items())),
        "model_params:47396 world_size:1 grad_accum_steps:2 seq_len:64 batch_tokens:1024",
        "step:1/6 train_loss:6.9315 train_time:3524ms step_avg:3523.59ms",
        f"step:6/6 val_loss:{loss + 0.01:.4f} val_bpb:{bpb + 0.01:.4f} train_time:6019ms step_avg:1003.21ms",
        "stopping at step:6/6 train_time:6019ms",
        f"Serialized model int8_zlib: {model_bytes} bytes",
        f"Code size: {code} bytes (26 modules: pgolf pgolf.config)",
        f"Total submission size int8_zlib: {model_bytes + code} bytes (headroom {16_000_000 - model_bytes - code})",
        f"final_int8_zlib_roundtrip val_loss:{loss:.4f} val_bpb:{bpb:.4f} eval_time:31041ms",
        f"final_int8_zlib_roundtrip_exact val_loss:{loss:.8f} val_bpb:{bpb:.8f}",
    ]
    (folder / "train.log").write_text("\n".join(log) + "\n")
    summary = {"val_loss": loss, "val_bpb": bpb, "bytes_model": model_bytes, "bytes_code": code,
               "bytes_total": model_bytes + code, "artifact": str(folder / "model.pgolf"), "run_dir": str(folder),
               "steps": 6, "train_seconds": 6.019, "eval_seconds": 31.041, "code_source": "raw"}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder
