"""`pgolf eval`."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score an artifact on the val split in a fresh process",
        description="Load a model file, dequantize it and score every target token of the val split. "
        "Never opens a training shard. Prints val_loss and val_bpb (bits per byte by the official rule).",
        epilog="example: pgolf eval runs/<id>/model.pgolf --data data --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("artifact", help="the model file written by training (runs/<id>/model.pgolf)")
    p.add_argument("--data", help="dataset folder or fetch root (default: the run's data_path)")
    p.add_argument("--tokenizer", help="SentencePiece model (default: from the data's manifest)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seq-len", type=int, default=0, help="eval window length (default: the run's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.eval.evaluate import evaluate_artifact

    res = evaluate_artifact(args.artifact, args.data, args.tokenizer, args.device, args.seq_len)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        print(f"val_loss:{res['val_loss']:.8f} val_bpb:{res['val_bpb']:.8f} "
              f"target_tokens:{res['target_tokens']} bytes:{res['bytes']} eval_time:{res['eval_seconds']:.1f}s")
    return 0
