"""Tokenizer comparison on the mini data: tokens per byte (with `prove`) and an equal-wall-time CPU training.

Usage (after building each dataset with `pgolf data build`, see docs/tokenizers.md)::

    python bench/tokenizers.py NAME=DATA_ROOT ... [--seconds 90] [--out bench/results/tokenizers_mini_cpu.json]

For each dataset: `prove` (must pass), tokens per byte of the val split, then a small model
(``--model``, key=value overrides of the cpu-demo preset) trained for ``--seconds`` of wall time
with the dataset's vocabulary and scored on the first ``--val-docs`` val documents (the same text
for every tokenizer; bytes from the one code path: sidecar when present, official rule
otherwise). Runs go one at a time; set OMP_NUM_THREADS=1 on a shared machine.
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pgolf.config import load_config  # noqa: E402
from pgolf.data.bytes import load_sentencepiece  # noqa: E402
from pgolf.data.prove import prove  # noqa: E402
from pgolf.data.shards import load_split, shard_files, write_shard  # noqa: E402
from pgolf.data.tokenizer import BOS_ID  # noqa: E402
from pgolf.data.sidecar import load_sidecar, sidecar_name  # noqa: E402
from pgolf.export import train_and_export  # noqa: E402
from pgolf.pack.builder import packed_code


SMALL = "num_layers=2 model_dim=64 num_heads=2 num_kv_heads=1 train_seq_len=128 train_batch_tokens=4096"


def val_subset(data_path: str, docs: int, dest: Path) -> Path:
    """A dataset folder whose val split is the first ``docs`` val documents (train shards linked)."""
    dest.mkdir(parents=True, exist_ok=True)
    tokens = load_split(data_path, "val")
    bos = np.flatnonzero(tokens == BOS_ID)
    end = int(bos[docs]) if docs < len(bos) else len(tokens)
    write_shard(dest / "fineweb_val_000000.bin", tokens[:end])
    side = load_sidecar(data_path, "val")
    if side is not None:
        write_shard(dest / sidecar_name("val", 0), side[:end])
    for f in shard_files(data_path, "train"):
        (dest / f.name).symlink_to(f.resolve())
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", metavar="NAME=DATA_ROOT")
    ap.add_argument("--seconds", type=float, default=90.0, help="training wall time per run (default: 90)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--out", default=str(REPO / "bench/results/tokenizers_mini_cpu.json"))
    ap.add_argument("--no-train", action="store_true", help="only prove and count tokens per byte")
    ap.add_argument("--val-docs", type=int, default=100, help="val documents scored after training (default: 100)")
    ap.add_argument("--model", default=SMALL, help=f"cpu-demo overrides (default: {SMALL})")
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
                data = val_subset(p["data_path"], args.val_docs, Path(tmp) / "data")
                model = dict(kv.split("=", 1) for kv in args.model.split())
                cfg = load_config("cpu-demo", **model, vocab_size=sp.GetPieceSize(), data_path=str(data),
                                  tokenizer_path=p["tokenizer"], max_wallclock_seconds=args.seconds,
                                  seed=args.seed, out_dir=tmp, run_id=f"tok_{name}")
                s = train_and_export(cfg, {}, packed_code, progress=False, echo=False)
            row.update(model=args.model, scored_val_docs=args.val_docs, scored_target_tokens=s["target_tokens"],
                       scored_bytes=s["bytes"], train_seconds=round(s["train_seconds"], 1), steps=s["steps"],
                       pre_quant_val_bpb=round(s["pre_quant_val_bpb"], 4), val_bpb=round(s["val_bpb"], 4),
                       val_loss=round(s["val_loss"], 4), bytes_total=s["bytes_total"])
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "what": "tokenizers on fineweb-mini: val tokens per byte (prove passing, all 901 val docs) and "
                f"val_bpb on the first {args.val_docs} val docs after {args.seconds:g} s of CPU training "
                "(int8+zlib round trip; pre_quant_val_bpb before it)",
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
