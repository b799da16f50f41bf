"""Tokenizer comparison on the mini data: tokens per byte (with `prove`) and an equal-wall-time CPU training.

Usage (after building each dataset with `pgolf data build`, see docs/tokenizers.md)::

    python bench/tokenizers.py NAME=DATA_ROOT ... [--seconds 90] [--out bench/results/tokenizers_mini_cpu.json]

For each dataset: `prove` (must pass), tokens per byte of the val split, then `cpu-demo` trained for
``--seconds`` of wall time with the dataset's vocabulary and scored on its val split (bytes from
the one code path: sidecar when present, official rule otherwise). Runs go one at a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pgolf.config import load_config  # noqa: E402
from pgolf.data.bytes import load_sentencepiece  # noqa: E402
from pgolf.data.prove import prove  # noqa: E402
from pgolf.train.loop import train  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", metavar="NAME=DATA_ROOT")
    ap.add_argument("--seconds", type=float, default=90.0, help="training wall time per run (default: 90)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--out", default=str(REPO / "bench/results/tokenizers_mini_cpu.json"))
    ap.add_argument("--no-train", action="store_true", help="only prove and count tokens per byte")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    rows = []
    for item in args.datasets:
        name, root = item.split("=", 1)
        p = prove(root)
        if not p["ok"]:
            print(f"{name}: prove FAILED: {p['first_mismatch']}", file=sys.stderr)
            return 1
        sp = load_sentencepiece(p["tokenizer"])
        row = {"name": name, "vocab_size": sp.GetPieceSize(), "transform": p["transform"],
               "prove_ok": p["ok"], "reference": p["reference"], "byte_source": p["byte_source"],
               "val_docs": p["docs"], "val_target_tokens": p["target_tokens"], "val_bytes": p["bytes_counted"],
               "tokens_per_byte": p["tokens_per_byte"]}
        if not args.no_train:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = load_config("cpu-demo", vocab_size=sp.GetPieceSize(), data_path=p["data_path"],
                                  tokenizer_path=p["tokenizer"], max_wallclock_seconds=args.seconds,
                                  seed=args.seed, out_dir=tmp, run_id=f"tok_{name}")
                s = train(cfg, {}, progress=False, echo=False)
            row.update(train_seconds=round(s["train_seconds"], 1), steps=s["steps"],
                       pre_quant_val_bpb=round(s["pre_quant_val_bpb"], 4), val_bpb=round(s["val_bpb"], 4),
                       val_loss=round(s["val_loss"], 4), bytes_total=s["bytes_total"])
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "what": "tokenizers on fineweb-mini: val tokens per byte (prove passing) and cpu-demo val_bpb "
                f"after {args.seconds:g} s of training wall time",
        "device": "2-core CPU, no GPU (shared with other jobs)",
        "host": platform.machine(),
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "seconds": args.seconds,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
