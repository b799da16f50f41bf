"""`pgolf train`."""

from __future__ import annotations

import argparse
import os
import sys

from pgolf.config import PRESETS, env_overrides, load_config, parse_kv


def add_config_args(p: argparse.ArgumentParser) -> None:
    """--preset, --smoke and key=value overrides: shared by every command that trains."""
    p.add_argument("--preset", default="baseline", choices=sorted(PRESETS), help="starting config (default: baseline)")
    p.add_argument("--smoke", action="store_true", help="shrink the preset to tiny dims and a few steps, keeping every feature on")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="any Config field, e.g. num_layers=4 seed=7")


def config_from_args(args, environ: dict[str, str] | None = None):
    """Preset, then official env vars (NUM_LAYERS=...), then key=value: the later wins."""
    environ = os.environ if environ is None else environ
    kv = dict(env_overrides(environ))
    kv.update(parse_kv(args.overrides))
    return load_config(args.preset, smoke=args.smoke, **kv)


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model, export its artifact and score it",
        description="Train from a preset with key=value overrides (any Config field; the official "
        "environment variables such as NUM_LAYERS or SEED also apply). Runs on CPU, one GPU, or N "
        "processes under torchrun with the same global batch. Writes runs/<run_id>/: train.log, "
        "metrics.jsonl, config.json, checkpoint.pt, model.pgolf and summary.json. tracker=tensorboard "
        "or tracker=wandb (offline) mirrors the metrics, config and summary into that tool.",
        epilog="examples:\n  pgolf train --preset cpu-demo max_wallclock_seconds=60\n"
        "  pgolf train --preset record --smoke            every record feature, tiny dims, CPU\n"
        "  torchrun --standalone --nproc_per_node=8 -m pgolf train --preset baseline",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.train.loop import train
    from pgolf.train.tracker import open_tracker

    cfg = config_from_args(args)
    summary = train(cfg, dict(os.environ), progress=sys.stderr.isatty(), open_mirror=open_tracker)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"val_bpb:{summary['val_bpb']:.4f} bytes_total:{summary['bytes_total']} run_dir:{summary['run_dir']}")
    return 0
