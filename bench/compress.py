"""Compression bench: codecs vs order-0 entropy, packed code bytes, RTN vs GPTQ vs LQER.

    python bench/compress.py --out bench/results/compress.json [--checkpoint runs/<id>/checkpoint.pt]

1. A synthetic 36M-parameter model (11 x 512, MLP 4x, 8192-token embedding) with realistic weight
   statistics (heavy-tailed rows of varying spread): int6 symbols at a 12.85-sigma clip, each codec's
   bytes against the order-0 entropy, and the whole model file from the size model.
2. The packed train_gpt.py bytes for each preset.
3. With a trained checkpoint (optional): round-trip val_bpb (on the first --val-tokens val tokens)
   and model bytes for int6 round-to-nearest, int6 GPTQ, and GPTQ + rank-4 LQER.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from pgolf.artifact import codecs, grouped
from pgolf.artifact.size_model import entropy_bytes, size_breakdown
from pgolf.config import PRESETS, Config, load_config
from pgolf.pack.builder import packed_code
from pgolf.quant.quantize import dequantize_state_dict
from pgolf.quant.scheme import quantize_for_export


def synthetic_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    d, hidden, layers, vocab = 512, 2048, 11, 8192

    def mat(rows, cols, std):
        x = torch.randn(rows, cols, generator=g)
        tails = torch.randn(rows, cols, generator=g).abs() < 0.05  # ~4% heavier-tailed entries
        x = torch.where(tails, x * 2.5, x)
        spread = torch.exp(0.25 * torch.randn(rows, 1, generator=g))  # rows of different scale
        return x * spread * std

    s = {"tok_emb.weight": mat(vocab, d, 0.05)}
    for i in range(layers):
        p = f"blocks.{i}."
        s[p + "attn.c_q.weight"] = mat(d, d, 0.03)
        s[p + "attn.c_k.weight"] = mat(d // 2, d, 0.03)
        s[p + "attn.c_v.weight"] = mat(d // 2, d, 0.03)
        s[p + "attn.proj.weight"] = mat(d, d, 0.02)
        s[p + "mlp.fc.weight"] = mat(hidden, d, 0.03)
        s[p + "mlp.proj.weight"] = mat(d, hidden, 0.015)
        s[p + "attn_scale"] = torch.ones(d)
        s[p + "mlp_scale"] = torch.ones(d)
    return s


def codec_table(symbols: bytes) -> dict:
    ent = entropy_bytes(symbols)
    out = {"symbols": len(symbols), "entropy_bytes": round(ent), "entropy_bits_per_symbol": 8 * ent / len(symbols)}
    for name in codecs.available("zlib,lzma,zstd,brotli"):
        t = time.perf_counter()
        n = len(codecs.get(name)[0](symbols))
        out[name] = {"bytes": n, "over_entropy": n / ent - 1, "seconds": round(time.perf_counter() - t, 1)}
    return out


def bench_synthetic() -> dict:
    state = synthetic_state()
    cfg = load_config("baseline", quant_scheme="rtn", quant_bits=6, quant_embed_bits=8,
                      artifact_codecs="brotli")
    q = quantize_for_export(state, cfg)
    int6 = b"".join(np.ascontiguousarray(q[k].data).tobytes() for k in sorted(q)
                    if q[k].kind == "intk_rows" and q[k].bits == 6)
    t = time.perf_counter()
    sizes = size_breakdown(q, cfg.to_dict(), code_bytes=packed_code(cfg)[0])
    sizes["seconds"] = round(time.perf_counter() - t, 1)
    return {"params": sum(v.numel() for v in state.values()), "int6_codecs": codec_table(int6), "model_file": sizes}


def val_subset(cfg: Config, n: int) -> np.ndarray:
    from pgolf.data.shards import load_split

    return load_split(cfg.data_path, "val", cfg.vocab_size)[:n]


def bench_checkpoint(path: Path, data: str, tokenizer: str, val_tokens: int, calib_batches: int,
                     keep_float: int) -> dict:
    from pgolf.data.bytes import load_table
    from pgolf.data.loader import BatchLoader
    from pgolf.eval.score import score_stream
    from pgolf.model import build_model
    from pgolf.quant.calibrate import calibrate

    blob = torch.load(path, map_location="cpu", weights_only=True)
    base = Config.from_dict(blob["config"]).replace(data_path=data, tokenizer_path=tokenizer)
    model = build_model(base)
    model.load_state_dict(blob["model"])
    val, table = val_subset(base, val_tokens), load_table(tokenizer)
    seq = base.eval_seq_len or base.train_seq_len

    def score(m):
        return score_stream(m, val, table, seq, base.val_batch_size, "cpu")["val_bpb"]

    base = base.replace(quant_keep_float_numel=keep_float)
    cfg_g = base.replace(quant_scheme="gptq", gptq_calib_batches=calib_batches)
    loader = BatchLoader(data, 0, 1, base.vocab_size)
    t = time.perf_counter()
    hs = calibrate(model, loader, cfg_g, torch.device("cpu"), base.train_batch_tokens // base.grad_accum_total)
    calib_s = time.perf_counter() - t
    rows = {"float": {"val_bpb": score(model)}}
    variants = {"int8_zlib (baseline)": (base.replace(quant_scheme="int8_zlib"), None)}
    for bits in (6, 4):
        b = dict(quant_bits=bits)
        variants.update({
            f"int{bits} rtn": (base.replace(quant_scheme="rtn", **b), None),
            f"int{bits} rtn + lqer r4 top4": (base.replace(quant_scheme="rtn", lqer_rank=4, lqer_top_k=4, **b), None),
            f"int{bits} gptq": (cfg_g.replace(**b), hs),
            f"int{bits} gptq + lqer r4 top4": (cfg_g.replace(lqer_rank=4, lqer_top_k=4, **b), hs),
        })
    from pgolf.artifact.container import encode_for

    for name, (cfg, h) in variants.items():
        q = quantize_for_export({k: v for k, v in blob["model"].items()}, cfg, h)
        m = build_model(cfg)
        m.load_state_dict(dequantize_state_dict(q))
        rows[name] = {"val_bpb": score(m), "bytes_model": len(encode_for(q, cfg.to_dict()))}
    return {"checkpoint": str(path), "quant_keep_float_numel": keep_float, "params": sum(p.numel() for p in model.parameters()), "val_tokens": len(val),
            "calibration_batches": calib_batches, "calibration_seconds": round(calib_s, 2), "results": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--data", default="../shared/fineweb-mini/datasets/datasets/fineweb10B_sp1024")
    ap.add_argument("--tokenizer", default="../shared/fineweb-mini/datasets/tokenizers/fineweb_1024_bpe.model")
    ap.add_argument("--val-tokens", type=int, default=65_536)
    ap.add_argument("--calib-batches", type=int, default=16)
    ap.add_argument("--keep-float", type=int, default=4096, help="quant_keep_float_numel for the checkpoint")
    ap.add_argument("--skip-synthetic", action="store_true")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {"device": "2-core CPU, no GPU (shared with other jobs)", "date": time.strftime("%Y-%m-%d"),
           "commit": commit, "python": platform.python_version(), "torch": torch.__version__,
           "packed_code_bytes": {p: packed_code(load_config(p))[0] for p in PRESETS}}
    if args.checkpoint:
        res["checkpoint"] = bench_checkpoint(Path(args.checkpoint), args.data, args.tokenizer, args.val_tokens,
                                             args.calib_batches, args.keep_float)
    if not args.skip_synthetic:
        res["synthetic_36m"] = bench_synthetic()
    Path(args.out).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(json.dumps(res, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
