"""Tiny-scale CPU comparison of the baseline and the record stack on the mini data (issue 3).

What a CPU can show: whether each stack trains, its step time at tiny dims, and the val_bpb
after a fixed number of steps on a short val prefix. It cannot show what the record gains at
full size on 8xH100 (those runs belong on a GPU). Usage:

    PYTHONPATH=. python bench/record_cpu_compare.py --steps 150 --out bench/results/record_cpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from pgolf.config import load_config
from pgolf.data.shards import read_shard, write_shard
from pgolf.export import train_and_export
from pgolf.pack.builder import packed_code

MINI = Path(__file__).resolve().parents[1] / ".." / "shared" / "fineweb-mini" / "datasets"

VARIANTS = {
    "baseline (tiny dims, 4 layers)": ("tiny", dict(num_layers=4)),
    "baseline (tiny dims, 4 layers, MLP 4x)": ("tiny", dict(num_layers=4, mlp_mult=4.0)),
    # the record preset reads sp8192 CaseOps data; on the sp1024 mini data its vocab follows the data
    "record --smoke": ("record", dict(vocab_size=1024)),
    "record --smoke, ema off": ("record", dict(vocab_size=1024, ema_decay=0.0)),
}

# Record switches added group by group to the 4-layer tiny baseline (EMA off: too few steps).
_GROUPS = [
    ("+ LeakyReLU(0.5)^2, MLP 4x", dict(mlp_act="leaky_relu2", mlp_mult=4.0)),
    ("+ doc isolation, SmearGate, BigramHash", dict(doc_isolation=True, smear_gate=True, bigram_buckets=2048)),
    ("+ XSA, partial RoPE, QK gain 5, attn gate", dict(xsa_last_n=4, rope_dims=4, qk_gain_init=5.0, attn_gate=True)),
    ("+ loop, lanes, skip gates, ln scale", dict(loop_start=1, loop_end=2, loop_extra=2, loop_enable_frac=0.35,
                                                parallel_from=3, unet_skip_gates=True, ln_scale=True)),
    ("+ Polar Express, row norm, WD, fraction schedule", dict(muon_coeffs="polar_express", muon_row_norm=True,
                                                            muon_weight_decay=0.095, lr_schedule="fraction",
                                                            warmdown_frac=0.72, min_lr_frac=0.05)),
]
ABLATION = {"baseline (tiny dims, 4 layers)": ("tiny", dict(num_layers=4))}
_acc: dict = dict(num_layers=4)
for _name, _kw in _GROUPS:
    _acc = dict(_acc, **_kw)
    ABLATION[_name] = ("tiny", dict(_acc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--val-tokens", type=int, default=65536)
    ap.add_argument("--out", default="bench/results/record_cpu.json")
    ap.add_argument("--ablation", action="store_true", help="add the record's switches group by group instead")
    args = ap.parse_args()
    data = MINI / "datasets" / "fineweb10B_sp1024"
    tok = MINI / "tokenizers" / "fineweb_1024_bpe.model"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        short = Path(tmp) / "data"
        short.mkdir()
        for f in sorted(data.glob("fineweb_train_*.bin")):
            (short / f.name).symlink_to(f)
        write_shard(short / "fineweb_val_000000.bin", read_shard(data / "fineweb_val_000000.bin")[: args.val_tokens])
        for name, (preset, kw) in (ABLATION if args.ablation else VARIANTS).items():
            cfg = load_config(preset, smoke=True, iterations=args.steps, warmdown_iters=args.steps // 3,
                              data_path=str(short), tokenizer_path=str(tok), out_dir=str(Path(tmp) / "runs"),
                              train_log_every=0, run_id=f"v{len(rows)}", **kw)
            t = time.perf_counter()
            s = train_and_export(cfg, {}, packed_code, echo=False)
            rows.append(dict(variant=name, preset=preset, overrides=kw, steps=s["steps"],
                             step_ms=round(1000 * s["train_seconds"] / s["steps"], 1),
                             pre_quant_val_bpb=round(s["pre_quant_val_bpb"], 4), val_bpb=round(s["val_bpb"], 4),
                             bytes_model=s["bytes_model"], wall_s=round(time.perf_counter() - t, 1)))
            print(json.dumps(rows[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = dict(device="2-core CPU, no GPU (shared with other jobs)", torch=torch.__version__, commit=commit,
                  date=str(date.today()), steps=args.steps, train_tokens_per_step=1024, seq_len=64,
                  val_tokens=args.val_tokens, data="fineweb-mini sp1024", ablation=args.ablation, rows=rows)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
