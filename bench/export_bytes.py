"""Export bytes of one fixed small trained checkpoint under every codec and symbol layout.

    python bench/export_bytes.py --out bench/results/export-bytes-<date>.json [--checkpoint runs/<id>/checkpoint.pt]

Without --checkpoint it first trains one: the cpu-demo shape with the record's attention gate
and LeakyReLU^2, 2,048 tokens a step for a fixed number of steps (no clock), so the weights do
not depend on machine speed. Then:

1. Hessians from 16 batches of random training windows (the record's calibration), and the
   record's export quantization (GPTQ int6 at 13.0 / 11.5 sigma, the tied embedding GPTQ int7
   at 14.0 sigma, int8 gates, fp16 passthrough, rank-4 asymmetric LQER on the 3 worst);
   every matrix is quantized (``quant_keep_float_numel=4096``: the shape is small).
2. Those symbols in our container under each codec alone and the smallest-per-group choices,
   with the role layout and the record's layout (per module, transposed, L1-sorted rows), and
   the size model's prediction for each.
3. The same quantized result through the record's own ``_serialize_pergroup`` (its lrzip
   groups + brotli remainder), for comparison.
4. val_bpb on the first --val-tokens val tokens: float, the baseline int8 export, the record's.
Bytes and BPB do not depend on machine load; the seconds do (stated as measured under load).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgolf.artifact import codecs, grouped  # noqa: E402
from pgolf.artifact.container import encode_for  # noqa: E402
from pgolf.artifact.size_model import size_breakdown  # noqa: E402
from pgolf.config import PRESETS, Config, load_config  # noqa: E402
from pgolf.quant.quantize import dequantize_state_dict  # noqa: E402
from pgolf.quant.scheme import quantize_for_export  # noqa: E402

MINI = Path(__file__).resolve().parents[1] / ".." / "shared" / "fineweb-mini" / "datasets"
SHAPE = dict(attn_gate=True, mlp_act="leaky_relu2", train_batch_tokens=2048, max_wallclock_seconds=0.0,
             val_loss_every=0)
RECORD_EXPORT = {k: v for k, v in PRESETS["record"].items() if k.startswith(("quant_", "gptq_", "lqer_", "artifact_"))}
LAYOUTS = {
    "role": dict(artifact_group_by="role", artifact_transpose=False, artifact_row_order="none",
                 artifact_row_order_names=""),
    "record": {k: RECORD_EXPORT[k] for k in ("artifact_group_by", "artifact_transpose", "artifact_row_order",
                                             "artifact_row_order_names")},
}
CODEC_SETS = ["zlib", "lzma", "zstd", "brotli", "lrzip", "lrzip,brotli", "zlib,lzma,zstd,brotli,lrzip"]


def train_checkpoint(steps: int, out: Path) -> Path:
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    cfg = load_config("cpu-demo", data_path=str(MINI / "datasets" / "fineweb10B_sp1024"),
                      tokenizer_path=str(MINI / "tokenizers" / "fineweb_1024_bpe.model"), out_dir=str(out),
                      run_id=f"export-bench-{steps}", iterations=steps, warmdown_iters=steps // 3, **SHAPE)
    train_and_export(cfg, {}, packed_code, progress=True, echo=False)
    return out / cfg.run_id / "checkpoint.pt"


def machine() -> dict:
    import os

    return {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": None if not torch.cuda.is_available()
            else torch.cuda.get_device_name(0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", help="reuse a checkpoint trained by this script")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--runs", default="runs", help="where the checkpoint is trained")
    ap.add_argument("--val-tokens", type=int, default=131_072)
    args = ap.parse_args()
    from pgolf.data.bytes import load_table
    from pgolf.data.shards import load_split
    from pgolf.eval.score import score_stream
    from pgolf.model import build_model
    from pgolf.quant.calibrate import calibrate
    from tests import reference

    ckpt = Path(args.checkpoint) if args.checkpoint else train_checkpoint(args.steps, Path(args.runs))
    blob = torch.load(ckpt, map_location="cpu", weights_only=True)
    base = Config.from_dict(blob["config"])
    model = build_model(base)
    model.load_state_dict(blob["model"])
    state = {k: v.detach() for k, v in blob["model"].items()}
    cfg = base.replace(**RECORD_EXPORT, quant_keep_float_numel=4096)
    t = time.perf_counter()
    hs = calibrate(model, None, cfg, torch.device("cpu"), base.train_batch_tokens // base.grad_accum_total)
    calib_s = time.perf_counter() - t
    q = quantize_for_export(state, cfg, hs)

    val, table = load_split(base.data_path, "val", base.vocab_size)[: args.val_tokens], load_table(base.tokenizer_path)

    def bpb(weights):
        m = build_model(base)
        m.load_state_dict(weights)
        return score_stream(m, val, table, base.train_seq_len, base.val_batch_size, "cpu")["val_bpb"]

    baseline_q = quantize_for_export(state, base.replace(quant_scheme="int8_zlib"))
    scores = {"float": bpb(state), "int8_zlib (baseline)": bpb(dequantize_state_dict(baseline_q)),
              "record export": bpb(dequantize_state_dict(q))}
    variants = {}
    for lname, lay in LAYOUTS.items():
        for names in CODEC_SETS:
            c = cfg.replace(**lay, artifact_codecs=names)
            t = time.perf_counter()
            sizes = size_breakdown(q, c.to_dict())
            variants[f"{lname} / {names}"] = {
                "bytes_model": sizes["bytes_model"], "predicted_bytes": sizes["predicted_bytes"],
                "seconds_under_load": round(time.perf_counter() - t, 1),
                "groups": {g["group"]: [g["codec"], g["compressed"]] for g in sizes["groups"]}}
            print(f"{lname:>7} / {names:<28} {sizes['bytes_model']:>9,} bytes (predicted {sizes['predicted_bytes']:,})",
                  flush=True)
    rec = reference.record_script()
    result, meta = reference.record_quant_result(q)
    tmp = tempfile.mkdtemp()
    try:
        pergroup = rec._serialize_pergroup(result, meta, base.num_layers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    streams = [len(s) for s in rec._unpack_streams(pergroup)]
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {
        "machine": machine(),
        "device": "2-core CPU, no GPU (shared with other jobs; seconds are under load)",
        "date": time.strftime("%Y-%m-%d"), "commit": commit, "python": platform.python_version(),
        "torch": torch.__version__, "lrzip": subprocess.run(["lrzip", "-V"], capture_output=True, text=True).stdout.strip(),
        "checkpoint": {"path": str(ckpt), "preset": "cpu-demo", "overrides": SHAPE, "steps": base.iterations,
                       "params": sum(v.numel() for v in state.values())},
        "export": {"settings": dict(RECORD_EXPORT, quant_keep_float_numel=4096),
                   "calibration_seconds_under_load": round(calib_s, 1),
                   "int_symbols": sum(int(x.data.size) for x in q.values() if x.kind.startswith("int"))},
        "val_bpb": {"val_tokens": len(val), **scores},
        "int8_zlib_bytes": len(encode_for(baseline_q, base.to_dict())),
        "variants": variants,
        "record_pergroup": {"bytes": len(pergroup), "streams": dict(zip([*rec._GROUP_ORDER, "remainder", "perms"], streams))},
        "requirements_record": codecs.requirements(cfg),
        "layouts": {k: dataclasses.asdict(grouped.Layout.of(v)) for k, v in LAYOUTS.items()},
    }
    Path(args.out).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: res[k] for k in ("val_bpb", "int8_zlib_bytes", "record_pergroup")}, indent=2))


if __name__ == "__main__":
    main()
