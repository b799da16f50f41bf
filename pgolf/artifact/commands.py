"""`pgolf size` and `pgolf export` (the export stage on any checkpoint)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pgolf.errors import PgolfError

def find_checkpoint(path: str | Path) -> Path:
    """``path`` itself (a checkpoint file) or the ``checkpoint.pt`` of a run folder."""
    from pgolf.model.checkpoint import CHECKPOINT_NAME

    path = Path(path)
    ckpt = path / CHECKPOINT_NAME if path.is_dir() else path
    if not ckpt.is_file():
        raise PgolfError(f"{path}: no {CHECKPOINT_NAME} here (pass a run folder or a checkpoint file)")
    return ckpt


def read_checkpoint(path: str | Path, overrides: dict | None = None):
    """(Config with ``overrides`` applied, state dict on the CPU) of a checkpoint file."""
    import pickle

    import torch

    from pgolf.config import Config, apply_overrides, validate

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg, state = Config.from_dict(blob["config"]), blob["model"]
    except (OSError, KeyError, RuntimeError, TypeError, pickle.UnpicklingError) as e:
        raise PgolfError(f"{path}: not a pgolf checkpoint ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return validate(apply_overrides(cfg, overrides or {})), state


def export_checkpoint(path: str | Path, overrides: dict | None = None, out: str | Path | None = None,
                      environ: dict[str, str] | None = None, echo: bool = False) -> dict:
    """The export stage on any checkpoint (a run folder or a ``.pt`` file): its config with
    ``overrides`` (export or eval fields, data paths), ``model.pgolf`` and ``train_gpt.py`` in
    ``out`` (default: the checkpoint's folder), the round-trip score, and ``export.log`` and
    ``export.json`` there; the 16 MB cap is enforced last (``allow_over_cap=true`` to keep going).
    GPTQ calibrates afresh on random train windows of the run's data, outside any clock."""
    from pgolf import dist as pdist
    from pgolf.config import validate
    from pgolf.export import export_and_score, finish, val_data
    from pgolf.model import build_model
    from pgolf.pack.builder import packed_code
    from pgolf.quant.calibrate import calibrate
    from pgolf.config_checks import micro_batch
    from pgolf.train.runlog import RunLog

    ckpt = find_checkpoint(path)
    cfg, state = read_checkpoint(ckpt, overrides)
    cfg = validate(cfg)
    out_dir = Path(out) if out else ckpt.parent
    ctx = pdist.setup(cfg, environ or {})
    try:
        model = build_model(cfg, ctx.device)
        model.load_state_dict(state, strict=True)
        log = RunLog(out_dir, enabled=ctx.is_main, echo=echo, log_name="export.log")
        log.line(f"export of {ckpt} quant_scheme:{cfg.quant_scheme}")
        hessians = None
        if cfg.quant_scheme == "gptq":
            hessians = calibrate(model, None, cfg.replace(gptq_calib_source="random"), ctx.device,
                                 micro_batch(cfg, ctx.world_size)[1])
        summary = export_and_score(model, cfg, ctx, out_dir, log, val_data(cfg), packed_code, hessians)
        summary["checkpoint"] = str(ckpt)
        return finish(summary, log, cfg, "export.json")
    finally:
        pdist.teardown()


def load_qstate(path: Path, overrides: dict):
    """(qstate, config dict, how) for a run folder, a model file or a checkpoint."""
    from pgolf.artifact.container import read_artifact
    from pgolf.config import portable
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
    cfg, state = read_checkpoint(ckpt, overrides)
    how = f"{cfg.quant_scheme} quantization of {ckpt}"
    if cfg.quant_scheme == "gptq":
        how += " (no calibration data here: round-to-nearest symbols)"
    return quantize_for_export(state, cfg), portable(cfg.to_dict()), how


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
    register_export(sub)


def register_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint: artifact, train_gpt.py, round-trip score, cap check",
        description="The export stage alone, on any run folder or checkpoint.pt: quantize and compress "
        "the weights into model.pgolf, write the packed train_gpt.py, score the artifact as `pgolf eval` "
        "would, and check code + model against the 16,000,000-byte cap. key=value overrides change the "
        "export or eval settings (quant_bits=5, artifact_codecs=brotli, eval_stride=64, data_path=...). "
        "Writes into the checkpoint's folder (or --out): model.pgolf, train_gpt.py, export.log, "
        "export.json. GPTQ calibrates afresh on random train windows of the run's data (no clock applies).",
        epilog="examples:\n  pgolf export runs/<id>\n"
        "  pgolf export runs/<id>/checkpoint.pt quant_bits=5 --out runs/<id>-int5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="run folder or checkpoint.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="export / eval Config fields")
    p.add_argument("--out", help="output folder (default: the checkpoint's folder)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run_export)


def run_export(args) -> int:
    import os

    from pgolf.config import parse_kv

    res = export_checkpoint(args.path, parse_kv(args.overrides), args.out, dict(os.environ), echo=not args.json)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    elif int(os.environ.get("RANK", "0")) == 0:
        print(f"val_bpb:{res['val_bpb']:.4f} bytes_total:{res['bytes_total']} artifact:{res['artifact']}")
    return 0


def run(args) -> int:
    from pgolf.artifact.size_model import size_breakdown
    from pgolf.config import Config, parse_kv
    from pgolf.pack.builder import packed_code

    qstate, config, how = load_qstate(Path(args.path), parse_kv(args.overrides))
    code, _ = packed_code(Config.from_dict(config))
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
