"""`pgolf plot`: training curves of one or more run folders as a PNG."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="draw train loss and val_bpb of run folders against steps and time (PNG)",
        description="Draw the train loss and val_bpb of each run folder (its metrics.jsonl) against "
        "steps and against training time, one line per run, labelled with the run's name and the "
        "config keys on which the runs differ. Needs matplotlib: pip install 'pgolf[plots]'.",
        epilog="examples:\n  pgolf plot runs/20261123-101500 --out curves.png\n"
        "  pgolf plot runs/a runs/b runs/c --out compare.png --title 'mlp_mult sweep'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (runs/<id>)")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    p.add_argument("--title", help="the figure's title (default: the run's name or the number of runs)")
    p.add_argument("--json", action="store_true", help="print the PNG's path and the run labels as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.report.curves import labels, read_run
    from pgolf.report.plots import CURVES_SIZE, curves_png

    runs = [read_run(r) for r in args.runs]
    out = curves_png(runs, args.out, args.title)
    if args.json:
        print(json.dumps({"png": str(out), "width": CURVES_SIZE[0], "height": CURVES_SIZE[1], "labels": labels(runs)}))
    else:
        print(f"wrote {out} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return 0
