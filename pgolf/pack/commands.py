"""`pgolf pack`."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from pgolf.errors import PgolfError


def register(sub) -> None:
    p = sub.add_parser(
        "pack",
        help="write the submission's single-file train_gpt.py (and model file) for a run",
        description="Generate train_gpt.py from the package's own modules: the modules that "
        "training, export and eval import (discovered from the source), minified, lzma-compressed "
        "and embedded as a latin-1 literal behind a small loader, configured by the run's config.json. It runs "
        "standalone as `python train_gpt.py` or under torchrun, reads the official environment "
        "variables (DATA_PATH, TOKENIZER_PATH, RUN_ID, SEED, ITERATIONS, ...), trains, exports and "
        "evaluates exactly like `pgolf train`. The run's model file is copied beside it.",
        epilog="examples:\n  pgolf pack runs/<id> --out submission/\n"
        "  cd submission && SEED=42 DATA_PATH=../data/datasets/fineweb10B_sp1024 \\\n"
        "    TOKENIZER_PATH=../data/tokenizers/fineweb_1024_bpe.model python train_gpt.py\n"
        "The file carries the recipe, not the run: SEED, RUN_ID, OUT_DIR, DATA_PATH and TOKENIZER_PATH\n"
        "come from the environment (defaults stated in the file), so every seed of a recipe packs the same bytes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a run folder (holds config.json, and model.pgolf if trained)")
    p.add_argument("--out", required=True, help="output folder (or a path ending in .py)")
    p.add_argument("--no-model", action="store_true", help="write only train_gpt.py")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pgolf.artifact.size import CAP_BYTES
    from pgolf.pack import pack_run

    if (Path(args.run_dir) / "config.json").is_file() and not (Path(args.run_dir) / "summary.json").is_file():
        raise PgolfError(f"{args.run_dir}: not a finished run (no summary.json); pack the run that trained")
    path = pack_run(args.run_dir, args.out)
    res = {"train_gpt": str(path), "bytes_code": path.stat().st_size}
    model = Path(args.run_dir) / "model.pgolf"
    if model.is_file() and not args.no_model:
        dest = path.parent / model.name
        shutil.copyfile(model, dest)
        res.update(model=str(dest), bytes_model=dest.stat().st_size)
        res["bytes_total"] = res["bytes_code"] + res["bytes_model"]
        res["headroom"] = CAP_BYTES - res["bytes_total"]
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        print(f"wrote {path} ({res['bytes_code']:,} bytes)")
        if "model" in res:
            print(f"copied {res['model']} ({res['bytes_model']:,} bytes); total {res['bytes_total']:,}, "
                  f"headroom {res['headroom']:,} under {CAP_BYTES:,}")
    return 0
