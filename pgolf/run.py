"""`pgolf run`: the main job, end to end on the mini data (what `make demo` calls).

Fetch the data from a hub mirror into ``data/``, train the ``cpu-demo`` preset (a fixed number
of steps; its clock is only a guard), export the artifact, score it again in a fresh
`pgolf eval` process, check both scores agree, and write ``runs/<id>/summary.json`` and the
training curves ``runs/<id>/curves.png`` (with matplotlib installed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pgolf.errors import PgolfError

SUMMARY_KEYS = ("val_loss", "val_bpb", "bytes_code", "bytes_model", "bytes_total", "train_seconds",
                "eval_seconds", "steps", "stopped_by", "artifact", "run_dir")


def fresh_eval(artifact: str, data: Path, tokenizer: Path) -> dict:
    """`pgolf eval --json` in a new Python process; its JSON result.

    The child uses this process's torch thread count: CPU reductions may round differently with
    another number of threads, and the two scores are compared for exact equality.
    """
    import torch

    cmd = [sys.executable, "-m", "pgolf", "eval", artifact, "--data", str(data), "--tokenizer", str(tokenizer), "--json"]
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise PgolfError(f"fresh-process eval failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main_job(args) -> dict:
    from pgolf.cmdline import hub_mirror
    from pgolf.data.fetch import fetch
    from pgolf.data.paths import resolve_data
    from pgolf.cmdline import config_from_args
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code
    from pgolf.train.tracker import open_tracker

    t0 = time.perf_counter()
    mirror = args.mirror or hub_mirror()
    print(f"[1/3] fetching sp1024 data into {args.dest}/ from {mirror or 'the Hugging Face hub'}", flush=True)
    fetch(variant="sp1024", train_shards=args.train_shards, dest=args.dest, mirror=mirror, progress=sys.stderr.isatty())
    dataset_dir, tokenizer = resolve_data(args.dest, 1024)
    cfg = config_from_args(args, environ={}).replace(data_path=str(dataset_dir), tokenizer_path=str(tokenizer))
    budget = (f"{cfg.iterations} steps (guard clock {cfg.max_wallclock_seconds:.0f}s)" if cfg.wallclock_guard
              else f"up to {cfg.max_wallclock_seconds:.0f}s" if cfg.max_wallclock_seconds > 0 else f"{cfg.iterations} steps")
    print(f"[2/3] training preset {args.preset} for {budget}", flush=True)
    summary = train_and_export(cfg, {}, packed_code, progress=sys.stderr.isatty(), echo=not args.quiet,
                               open_mirror=open_tracker)
    print("[3/3] scoring the artifact in a fresh process", flush=True)
    fresh = fresh_eval(summary["artifact"], dataset_dir, tokenizer)
    agree = fresh["val_bpb"] == summary["val_bpb"] and fresh["val_loss"] == summary["val_loss"]
    result = {k: summary[k] for k in SUMMARY_KEYS}
    result.update(val_loss=fresh["val_loss"], val_bpb=fresh["val_bpb"], eval_seconds=fresh["eval_seconds"],
                  train_eval_val_bpb=summary["val_bpb"], eval_agrees=agree, preset=args.preset,
                  iterations=cfg.iterations, guard_stopped=cfg.wallclock_guard and summary["stopped_by"] == "wallclock")
    from pgolf.train.runlog import write_json

    run_dir = Path(summary["run_dir"])
    result["curves"], result["curves_note"] = draw_curves(run_dir)
    result["wall_seconds"] = time.perf_counter() - t0
    write_json(run_dir / "summary.json", result)
    return result


def draw_curves(run_dir: Path) -> tuple[str | None, str]:
    """``run_dir/curves.png``, or (None, why not): a missing matplotlib never fails the run."""
    from pgolf.report.curves import read_run
    from pgolf.report.plots import curves_png

    try:
        return str(curves_png([read_run(run_dir)], run_dir / "curves.png")), ""
    except PgolfError as e:
        return None, str(e)


def register(sub) -> None:
    from pgolf.cmdline import add_config_args

    p = sub.add_parser(
        "run",
        help="the main job: fetch mini data, train, export, evaluate in a fresh process",
        description=__doc__,
        epilog="examples:\n  pgolf run --mirror ../shared/fineweb-mini/datasets      what `make demo` runs\n"
        "  pgolf run --preset tiny --train-shards 1 --quiet --json   a smoke run in seconds",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mirror", help="local hub mirror (default: $PGOLF_HUB_MIRROR, else the hub)")
    p.add_argument("--dest", default="data", help="where the data goes (default: data)")
    p.add_argument("--train-shards", type=int, default=2, help="train shards to fetch (default: 2)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="do not echo the training log")
    add_config_args(p)
    p.set_defaults(func=run, preset="cpu-demo")


GUARD_WARNING = """
!!! The wall-clock guard stopped training at step {steps} of {iterations}: this machine was too
!!! slow or too busy for the step-bounded recipe, so the score below is NOT the documented one.
!!! Raise max_wallclock_seconds=... or run on a quieter machine to reproduce it."""


def run(args) -> int:
    res = main_job(args)
    if args.json:
        print(json.dumps(res, sort_keys=True))
        return 0
    if res["guard_stopped"]:
        print(GUARD_WARNING.format(**res), file=sys.stderr)
    print(
        f"\nval_bpb {res['val_bpb']:.4f} (val_loss {res['val_loss']:.4f}) after {res['steps']} steps in "
        f"{res['train_seconds']:.0f}s; eval {res['eval_seconds']:.1f}s in a fresh process "
        f"({'agrees exactly with' if res['eval_agrees'] else 'DIFFERS from'} the in-training score)\n"
        f"artifact {res['bytes_total']:,} bytes = model {res['bytes_model']:,} + code {res['bytes_code']:,}\n"
        f"run folder: {res['run_dir']}\n"
        + (f"curves: {res['curves']}" if res["curves"] else f"curves not drawn: {res['curves_note']}")
    )
    if res["guard_stopped"]:
        print(f"WARNING: stopped by the wall-clock guard at step {res['steps']} of {res['iterations']}", file=sys.stderr)
    return 0
