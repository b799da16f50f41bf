"""CPU time per token of the record's eval path at a small size: document-aware packed rows and
phased score-first TTT, on a freshly initialised model of the record's shape (smoke dims).

usage: python bench/ttt_time.py --data DIR [--tokens N] [--seq-len L] [--out FILE]
Time per token does not depend on the weights' values; it does depend on the machine's load,
which the result records (os.getloadavg before and after). One torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time

import numpy as np
import torch

import pgolf
from pgolf.config import load_config
from pgolf.data.shards import load_split
from pgolf.eval.strategy import evaluate_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--only", nargs="*", help="names of the runs to make (default: all)")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    L = args.seq_len
    # the record's TTT settings but the global phases' chunk, scaled to the slice (3 phases over
    # every document of it, several learning-rate steps each); one chain (one process)
    cfg = load_config("record", smoke=True, eval_seq_len=L, val_batch_size=8 * 4 * L, grad_accum_total=8,
                      ttt_lora_rank=80, ttt_chunk_tokens=48, ttt_batch_docs=64, ttt_chains=1, ttt_prefix_docs=2500,
                      ttt_phases=3, ttt_global_chunk_tokens=8 * L, ttt_global_batch_seqs=32)
    torch.manual_seed(0)
    model = pgolf.build_model(cfg).eval()
    tokens = np.ascontiguousarray(load_split(args.data, "val", cfg.vocab_size)[: args.tokens])
    nbytes = np.ones(len(tokens) - 1, dtype=np.int64)  # bytes do not change the time
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"what": "record eval path, CPU seconds per target token", "commit": commit, "date": time.strftime("%Y-%m-%d"),
           "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, 1 torch thread", "torch": torch.__version__,
           "tokens": len(tokens), "documents": int((tokens == 1).sum()),
           "model": {k: getattr(cfg, k) for k in ("num_layers", "model_dim", "vocab_size", "loop_extra")}
           | {"params": sum(p.numel() for p in model.parameters()), "virtual_layers": model.num_virtual_layers},
           "results": {}}
    runs = {"doc_aware": {"ttt_enabled": False}, "ttt_lora_only": {"ttt_global_lr": 0.0}, "ttt_phased": {},
            # batches of 2 documents: 3 phases, each with global SGD steps, on a slice this short
            "ttt_phased_batch2": {"ttt_batch_docs": 2, "ttt_prefix_docs": 6}}
    for name, over in runs.items():
        if args.only and name not in args.only:
            continue
        c = cfg.replace(**over)
        load0, t = os.getloadavg()[0], time.perf_counter()
        res = evaluate_model(model, tokens, None, c, "cpu", target_bytes=nbytes)
        wall = time.perf_counter() - t
        out["results"][name] = {"strategy": res["strategy"], "wall_s": wall, "us_per_token": 1e6 * wall / (len(tokens) - 1),
                                "phase_seconds": res["phase_seconds"], "load_avg_before": load0,
                                "load_avg_after": os.getloadavg()[0],
                                **{k: res[k] for k in ("lora_steps", "global_steps", "phases") if k in res}}
        print(name, json.dumps(out["results"][name]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
