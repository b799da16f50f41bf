"""`pgolf` and its subcommands.

Each stage keeps its own subcommands in a ``commands.py`` with ``register(subparsers)``; this
file only lists those modules, parses, maps the environment onto the config, and turns a
:class:`PgolfError` into one line on stderr (a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pgolf.errors import PgolfError

# Modules whose register(subparsers) adds subcommands, in the order `pgolf --help` lists them.
COMMAND_MODULES = [
    "pgolf.run",
    "pgolf.data.commands",
    "pgolf.model.commands",
    "pgolf.train.commands",
    "pgolf.eval.commands",
    "pgolf.referee.commands",
    "pgolf.bench.commands",
    "pgolf.pack.commands",
    "pgolf.artifact.commands",
    "pgolf.report.commands",
    "pgolf.doctor",
]

EPILOG = """\
examples:
  pgolf run                                   the demo: fetch mini data, train cpu-demo, export, eval
  pgolf data fetch --variant sp1024 --train-shards 1 --dest data
  pgolf train --preset baseline seed=7        any Config field as key=value
  pgolf eval runs/<id>/model.pgolf --json     score an artifact in a fresh process
  pgolf export runs/<id> quant_bits=5 --out runs/<id>-int5   export any checkpoint again
  pgolf plot runs/<id> --out curves.png       loss and val_bpb curves (needs pgolf[plots])
  pgolf doctor                                what this machine can run, what is missing
  pgolf import RECORD_DIR --checkpoint final_model.pt   a record's config and weights as a run folder
Run `pgolf COMMAND --help` for each command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgolf",
        description="Parameter Golf workbench: data, training, compression, evaluation, submission.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = debug
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PgolfError as e:
        if debug:
            raise
        print(f"pgolf: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgolf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
