"""`pgolf eval`."""

from __future__ import annotations

import argparse
import json
import os
import sys

EPILOG = """\
strategies (every target token is scored exactly once in each):
  non-overlapping   the baseline: windows of --seq-len side by side (the default)
  sliding           --stride S < L: each window scores its last S targets, the rest is context
  document-aware    --doc-aware: context never crosses a BOS (a document-isolated model: packed
                    rows whose attention restarts at every BOS and every L tokens, as the record)
  phased TTT        --ttt: per-document LoRA adapters learn from each chunk after it was scored;
                    global SGD phases train the weights on the first --ttt-prefix-docs documents
                    once they are scored (--ttt-global-lr 0: none)

The artifact's config sets every default: a `record` artifact evaluates as the record does
(document-aware windows of 2,048, then phased TTT) with no flags.

examples:
  pgolf eval runs/<id>/model.pgolf --json
  pgolf eval runs/<id>/model.pgolf --stride 64                  sliding windows
  pgolf eval runs/<id>/model.pgolf --no-ttt                     a record artifact without TTT
  pgolf eval runs/<id>/model.pgolf --ttt --audit runs/<id>/audit.json.gz
  torchrun --standalone --nproc_per_node=8 -m pgolf eval model.pgolf
"""


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score an artifact on the val split in a fresh process",
        description="Load a model file, dequantize it and score every target token of the val split. "
        "Never opens a training shard. Prints val_loss and val_bpb (bits per byte by the official rule), "
        "the strategy, wall seconds per phase and an 8xH100 time estimate (warns above 600 s). "
        "Defaults come from the artifact's config (eval_seq_len, eval_stride, eval_doc_aware, ttt_*).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("artifact", help="the model file written by training (runs/<id>/model.pgolf)")
    p.add_argument("--data", help="dataset folder or fetch root (default: the data of the run folder the file is in, else data/datasets/NAME)")
    p.add_argument("--tokenizer", help="SentencePiece model (default: from the data's manifest)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seq-len", type=int, default=0, metavar="L", help="eval window length (default: the run's)")
    p.add_argument("--stride", type=int, default=None, metavar="S",
                   help="score S new targets per window; S < L means sliding windows (default: L)")
    p.add_argument("--doc-aware", action=argparse.BooleanOptionalAction, default=None,
                   help="context never crosses a BOS")
    p.add_argument("--max-tokens", type=int, default=0, metavar="N",
                   help="score only the first N val tokens (quick looks; the result says partial)")
    p.add_argument("--audit", metavar="FILE", help="record every scoring and update; write the checked trail as JSON")
    g = p.add_argument_group("phased score-first test-time training (defaults: the artifact's config)")
    g.add_argument("--ttt", action=argparse.BooleanOptionalAction, default=None,
                   help="adapt on each chunk after scoring it")
    g.add_argument("--ttt-rank", type=int, metavar="R", help="LoRA rank per document, 0 = no adapters")
    g.add_argument("--ttt-lr", type=float, metavar="LR", help="adapter AdamW learning rate")
    g.add_argument("--ttt-chunk", type=int, metavar="C", help="targets per chunk, <= L")
    g.add_argument("--ttt-steps", type=int, metavar="K", help="adapter steps per chunk")
    g.add_argument("--ttt-batch-docs", type=int, metavar="D", help="documents per batch")
    g.add_argument("--ttt-chains", type=int, metavar="N",
                   help="chains that carry the adapters' A from batch to batch (a multiple of the ranks)")
    g.add_argument("--ttt-global-lr", type=float, metavar="LR", help="SGD lr of the global phases, 0 = none")
    g.add_argument("--ttt-prefix-docs", type=int, metavar="D", help="documents the global phases train on")
    g.add_argument("--ttt-phases", type=int, metavar="P", help="global phases over those documents")
    g.add_argument("--ttt-global-chunk", type=int, metavar="T",
                   help="tokens per learning-rate step of a global phase (>= L)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


FLAG_FIELDS = {
    "stride": "eval_stride", "doc_aware": "eval_doc_aware", "ttt": "ttt_enabled", "ttt_rank": "ttt_lora_rank",
    "ttt_lr": "ttt_lora_lr", "ttt_chunk": "ttt_chunk_tokens", "ttt_steps": "ttt_steps",
    "ttt_batch_docs": "ttt_batch_docs", "ttt_chains": "ttt_chains", "ttt_global_lr": "ttt_global_lr",
    "ttt_prefix_docs": "ttt_prefix_docs", "ttt_phases": "ttt_phases", "ttt_global_chunk": "ttt_global_chunk_tokens",
}


def overrides_from_args(args) -> dict:
    return {field: getattr(args, flag) for flag, field in FLAG_FIELDS.items() if getattr(args, flag) is not None}


def run(args) -> int:
    from pgolf.eval.evaluate import evaluate_artifact

    res = evaluate_artifact(args.artifact, args.data, args.tokenizer, args.device, args.seq_len,
                            overrides=overrides_from_args(args), audit=args.audit, max_tokens=args.max_tokens,
                            progress=True, environ=dict(os.environ))
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    est = res["estimate_8xh100"]
    if est["over_budget"]:
        print(f"WARNING: !!! estimated eval time on 8xH100 is {est['seconds']:.0f}s, over the 600s budget !!! "
              f"({est['basis']})", file=sys.stderr)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        phases = " ".join(f"{k}:{v:.1f}s" for k, v in res["phase_seconds"].items())
        print(f"val_loss:{res['val_loss']:.8f} val_bpb:{res['val_bpb']:.8f} target_tokens:{res['target_tokens']} "
              f"bytes:{res['bytes']} strategy:{res['strategy']}{' PARTIAL' if res['partial'] else ''}")
        print(f"time {phases} eval_time:{res['eval_seconds']:.1f}s est_8xH100:{est['seconds']:.1f}s ({est['basis']})")
        if "audit" in res:
            a = res["audit"]
            print(f"audit {'passed' if a['ok'] else 'FAILED: ' + ', '.join(a['failed'])} -> {a['path']}")
    if "audit" in res and not res["audit"]["ok"]:
        return 1
    return 0
