"""`pgolf size`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pgolf.errors import PgolfError


def load_qstate(path: Path, overrides: dict):
    """(qstate, config dict, how) for a run folder, a model file or a checkpoint."""
    import torch

    from pgolf.artifact.container import read_artifact
    from pgolf.config import Config, apply_overrides, validate
    from pgolf.quant.scheme import quantize_for_export

    ckpt = model = None
    if path.is_dir():
        model = path / "model.pgolf" if (path / "model.pgolf").is_file() else None
        ckpt = path / "checkpoint.pt" if (path / "checkpoint.pt").is_file() else None
        if model is None and ckpt is None:
            raise PgolfError(f"{path}: no model.pgolf or checkpoint.pt in this folder")
    elif path.suffix == ".pt":
        ckpt = path
    elif path.is_file():
        model = path
    else:
        raise PgolfError(f"{path}: no such run folder, model file or checkpoint")
    if model is not None and not (overrides and ckpt is not None):
        qstate, config = read_artifact(model)
        return qstate, config, f"symbols read from {model}"
    try:
        blob = torch.load(ckpt, map_location="cpu", weights_only=True)
        cfg = validate(apply_overrides(Config.from_dict(blob["config"]), overrides))
        state = blob["model"]
    except (OSError, KeyError, RuntimeError) as e:
        raise PgolfError(f"{ckpt}: not a pgolf checkpoint ({e})") from None
    how = f"{cfg.quant_scheme} quantization of {ckpt}"
    if cfg.quant_scheme == "gptq":
        how += " (no calibration data here: round-to-nearest symbols)"
    return quantize_for_export(state, cfg), cfg.to_dict(), how


def register(sub) -> None:
    p = sub.add_parser(
        "size",
        help="predict and measure the artifact bytes of a run, model file or checkpoint",
        description="Predict the model file's bytes from the order-0 entropy of the quantized symbols "
        "(per tensor group), then encode it for real; add the code bytes of the packed train_gpt.py; "
        "report the headroom under 16,000,000 bytes and how many more weights it buys at the "
        "measured bits per weight. key=value overrides re-quantize the checkpoint (e.g. quant_bits=5).",
        epilog="examples:\n  pgolf size runs/<id>\n  pgolf size runs/<id>/checkpoint.pt quant_scheme=rtn quant_bits=6 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="run folder, model.pgolf or checkpoint.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="Config fields for re-quantizing a checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.artifact.size_model import size_breakdown
    from pgolf.config import parse_kv
    from pgolf.pack.builder import packed_size

    qstate, config, how = load_qstate(Path(args.path), parse_kv(args.overrides))
    code, _ = packed_size(config)
    res = size_breakdown(qstate, config, code)
    res["source"] = how
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return 0
    print(f"{how}\n{'group':<16}{'codec':>8}{'raw':>12}{'entropy':>12}{'real':>12}{'over':>8}")
    for g in res["groups"]:
        print(f"{g['group']:<16}{g['codec']:>8}{g['raw']:>12,}{g['predicted']:>12,}{g['compressed']:>12,}"
              f"{100 * g['over_entropy']:>7.1f}%")
    print(f"header {res['header_bytes']:,} bytes; predicted {res['predicted_bytes']:,}, grouped file "
          f"{res['grouped_bytes']:,}, model file ({res['scheme']}) {res['bytes_model']:,} bytes "
          f"({100 * res['prediction_error']:+.1f}% predicted vs real)\n"
          f"{res['quantized_weights']:,} quantized weights at {res['bits_per_weight']:.3f} bits/weight "
          f"(entropy {res['entropy_bits_per_weight']:.3f})\n"
          f"code (packed train_gpt.py) {res['bytes_code']:,} + model {res['bytes_model']:,} = {res['bytes_total']:,}; "
          f"headroom {res['headroom']:,} bytes ≈ {res['extra_params']:,} more weights")
    return 0
