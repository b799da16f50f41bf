"""`pgolf train` (and `pgolf train --seeds A,B,C`: one recipe, several seeds, see pgolf/seeds.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pgolf.cmdline import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model, export its artifact and score it (--seeds: several seeds of one recipe)",
        description="Train from a preset with key=value overrides (any Config field; the official "
        "environment variables such as NUM_LAYERS or SEED also apply). Runs on CPU, one GPU, or N "
        "processes under torchrun with the same global batch. Writes runs/<run_id>/: train.log, "
        "metrics.jsonl, config.json, checkpoint.pt, model.pgolf, train_gpt.py and summary.json. tracker=tensorboard "
        "or tracker=wandb (offline) mirrors the metrics, config and summary into that tool.\n\n"
        "With --seeds A,B,C it trains the same recipe once per seed, one after another, each in a "
        "fresh `pgolf train` process (under torchrun with --nproc-per-node N) with run_id "
        "<run_id or a time stamp>-seed<S>, then prints every seed's score, the mean, the sample std "
        "and the significance line, and the `pgolf submit` command for the run folders.",
        epilog="examples:\n  pgolf train --preset cpu-demo max_wallclock_seconds=60\n"
        "  pgolf train --preset record --smoke            every record feature, tiny dims, CPU\n"
        "  torchrun --standalone --nproc_per_node=8 -m pgolf train --preset baseline\n"
        "  pgolf train --preset tiny --seeds 1337,42,2025 run_id=tiny     runs/tiny-seed1337, ...\n"
        "  pgolf train --preset baseline --seeds 1337,42,2025 --nproc-per-node 8 --against-bpb 1.2244",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    g = p.add_argument_group("several seeds of one recipe")
    g.add_argument("--seeds", metavar="A,B,C", help="train once per seed, one after another (e.g. 1337,42,2025)")
    g.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                   help="with --seeds: launch each seed under torchrun with N processes (default: 1, no torchrun)")
    ref = g.add_mutually_exclusive_group()
    ref.add_argument("--against-bpb", type=float, metavar="Y", help="with --seeds: the val_bpb to beat, for the stats line")
    ref.add_argument("--against", metavar="FOLDER", help="with --seeds: the record folder to beat")
    g.add_argument("--json", action="store_true", help="with --seeds: print the results as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.errors import PgolfError

    if args.seeds is not None:
        from pgolf.seeds import parse_seeds, report, run_seeds

        # with --json the runs' own output goes to stderr, so stdout holds only the JSON
        res = run_seeds(args, parse_seeds(args.seeds), stdout=sys.stderr if args.json else None)
        print(json.dumps(res, sort_keys=True) if args.json else report(res))
        return 0
    if args.json or args.against or args.against_bpb is not None or args.nproc_per_node != 1:
        raise PgolfError("--json, --against, --against-bpb and --nproc-per-node go with --seeds")
    from pgolf.data.paths import check_bos_id
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code
    from pgolf.train.tracker import open_tracker

    cfg = config_from_args(args)
    check_bos_id(cfg.data_path, cfg.bos_id)  # the config and the data agree on where documents start
    summary = train_and_export(cfg, dict(os.environ), packed_code, progress=sys.stderr.isatty(), open_mirror=open_tracker)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"val_bpb:{summary['val_bpb']:.4f} bytes_total:{summary['bytes_total']} run_dir:{summary['run_dir']}")
    return 0
