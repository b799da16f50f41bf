"""Measure val_bpb and wall time of each eval strategy on one artifact; writes a JSON result.

usage: python bench/eval_strategies.py ARTIFACT --data DIR [--max-tokens N] [--out FILE]
Every strategy runs in this one process, one after the other, with the audit on (its cost is
included in the times; the audit verdict is recorded). Wall seconds and process CPU seconds
(all threads) are both recorded: on a shared machine the CPU seconds are the steadier number.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pgolf.eval.evaluate import evaluate_artifact

STRATEGIES = {
    "nonoverlap": {},
    "sliding64": {"eval_stride": 64},
    "nonoverlap+doc": {"eval_doc_aware": True},
    "sliding64+doc": {"eval_stride": 64, "eval_doc_aware": True},
    "ttt": {"ttt_enabled": True},
    "ttt_lr0.01": {"ttt_enabled": True, "ttt_lora_lr": 0.01},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("artifact")
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-tokens", type=int, default=100_000)
    ap.add_argument("--only", nargs="*", help="strategy names to run (default: all)")
    ap.add_argument("--out")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"{torch.get_num_threads()}-thread CPU"
    out = {"what": "eval strategies on one artifact", "artifact": args.artifact, "max_tokens": args.max_tokens,
           "device": dev, "machine": platform.machine(), "torch": torch.__version__, "commit": commit,
           "date": time.strftime("%Y-%m-%d"), "results": {}}
    # warm the kernels up on random tokens (never val ones) so the first strategy pays no one-off cost
    from pgolf.artifact.export import load_model

    model, cfg = load_model(args.artifact, "cuda" if torch.cuda.is_available() else "cpu")
    with torch.no_grad():
        ids = torch.randint(0, cfg.vocab_size, (max(1, cfg.val_batch_size // cfg.train_seq_len), cfg.train_seq_len))
        model.forward_logits(ids.to(next(model.parameters()).device))
    del model
    with tempfile.TemporaryDirectory() as tmp:
        for name, over in STRATEGIES.items():
            if args.only and name not in args.only:
                continue
            t, c = time.perf_counter(), time.process_time()
            res = evaluate_artifact(args.artifact, args.data, device="auto", overrides=over,
                                    audit=str(Path(tmp) / f"{name}.json"), max_tokens=args.max_tokens)
            row = {k: res[k] for k in ("strategy", "val_loss", "val_bpb", "target_tokens", "bytes",
                                       "eval_seconds", "phase_seconds", "estimate_8xh100")}
            row.update(audit_ok=res["audit"]["ok"], wall_seconds_with_load=time.perf_counter() - t,
                       cpu_seconds_with_load=time.process_time() - c)
            out["results"][name] = row
            print(f"{name:16s} val_bpb {res['val_bpb']:.4f}  eval {res['eval_seconds']:.1f}s  "
                  f"cpu {row['cpu_seconds_with_load']:.1f}s  "
                  f"audit {'ok' if res['audit']['ok'] else 'FAILED'}", flush=True)
            if args.out:  # after every strategy: a cut-off run keeps what it measured
                Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if not args.out:
        print(json.dumps(out, indent=2))

if __name__ == "__main__":
    sys.exit(main())
