"""`pgolf import`: an official record folder (and its checkpoint) as a pgolf run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pgolf.errors import PgolfError

IMPORT_REPORT = "import.json"

EPILOG = """\
examples:
  pgolf import records/track_10min_16mb/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611
  pgolf import RECORD_DIR --checkpoint final_model.pt --out runs/record-1.0611
  pgolf size runs/record-1.0611          the imported checkpoint's artifact bytes
"""


def register(sub) -> None:
    p = sub.add_parser(
        "import",
        help="turn an official record folder (and its checkpoint) into a run folder",
        description="Read the record's log (its 'Hyperparameters:' dump) into a Config through an explicit "
        "key-by-key table (pgolf.config_from_log) and write OUT/config.json; with --checkpoint, map the "
        "record script's state dict (its banked matrices and per-block tensors) onto the pgolf model and "
        "write OUT/checkpoint.pt. OUT/import.json lists how every key of the dump was treated. Unknown "
        "keys and values pgolf does not implement are errors; keys whose Config field does not exist "
        "yet are listed and left at pgolf's defaults.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("record_dir", metavar="RECORD_DIR", help="an official record folder (train_gpt.py, train_seed*.log)")
    p.add_argument("--log", help="the log to read (default: the first train*.log of RECORD_DIR by name)")
    p.add_argument("--checkpoint", metavar="PT", help="the script's torch.save(state_dict) file, e.g. final_model.pt "
                   "(relative to RECORD_DIR unless it exists as given)")
    p.add_argument("--out", help="run folder to write (default: runs/<record folder name>)")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder's files")
    p.add_argument("--json", action="store_true", help="print the import report as one JSON object")
    p.set_defaults(func=run)


def _find(record_dir: Path, name: str | None, pattern: str, what: str) -> Path:
    if name:
        path = Path(name) if Path(name).exists() else record_dir / name
        if not path.is_file():
            raise PgolfError(f"{path}: no such {what}")
        return path
    found = sorted(record_dir.glob(pattern))
    if not found:
        raise PgolfError(f"{record_dir}: no {pattern} in this folder (pass --log)")
    return found[0]


def import_record(record_dir: str | Path, out: str | Path, log: str | None = None,
                  checkpoint: str | None = None, force: bool = False) -> dict:
    """Write ``out``/config.json (+ checkpoint.pt with ``checkpoint``) and import.json; returns the report."""
    import torch

    from pgolf.config_log import parse_log
    from pgolf.io import atomic_write
    from pgolf.model import build_model
    from pgolf.model.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from pgolf.model.gpt import GPT
    from pgolf.model.reference import load_reference_weights

    record_dir, out = Path(record_dir), Path(out)
    if not record_dir.is_dir():
        raise PgolfError(f"{record_dir}: no such record folder")
    if (out / "config.json").exists() and not force:
        raise PgolfError(f"{out}: already holds a run (pass --force to overwrite)")
    log_path = _find(record_dir, log, "train*.log", "log")
    imp = parse_log(log_path)
    if imp.problems():
        raise PgolfError(f"{log_path}: " + "; ".join(imp.problems()))
    cfg = imp.config.replace(run_id=out.name, out_dir=str(out.parent))
    with torch.device("meta"):  # counting costs no memory
        n_params = sum(p.numel() for p in GPT(cfg).parameters())
    if imp.model_params is not None and n_params != imp.model_params:
        raise PgolfError(f"{log_path}: the log's model has {imp.model_params:,} parameters, the imported "
                         f"config gives {n_params:,}: this table does not describe that script")
    report = dict(imp.to_dict(), record_dir=str(record_dir), config=cfg.to_dict(), params=n_params,
                  files=["config.json", IMPORT_REPORT])
    if checkpoint:
        ckpt_path = _find(record_dir, checkpoint, "", "checkpoint")
        try:
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a file that is not a checkpoint
            raise PgolfError(f"{ckpt_path}: not a torch state dict ({type(e).__name__}: {e})") from None
        if not isinstance(state, dict):
            raise PgolfError(f"{ckpt_path}: holds a {type(state).__name__}, not a state dict")
        model = build_model(cfg)
        try:
            load_reference_weights(model, state)
        except PgolfError as e:
            raise PgolfError(f"{ckpt_path}: {e}") from None
        save_checkpoint(out / CHECKPOINT_NAME, cfg.to_dict(), model.state_dict())
        report["checkpoint"] = str(ckpt_path)
        report["files"].insert(1, CHECKPOINT_NAME)
    atomic_write(out / "config.json", (cfg.to_json() + "\n").encode())
    atomic_write(out / IMPORT_REPORT, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    return report


def run(args) -> int:
    record_dir = Path(args.record_dir)
    out = Path(args.out) if args.out else Path("runs") / record_dir.name
    report = import_record(record_dir, out, args.log, args.checkpoint, args.force)
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"read {report['path']}: {len(report['mapped'])} keys mapped, {len(report['ignored'])} ignored")
    for group, keys in report["not_yet_mapped"].items():
        print(f"  not yet mapped ({group}, left at pgolf's defaults): {', '.join(keys)}")
    print(f"wrote {out}: {', '.join(report['files'])} ({report['params']:,} parameters)")
    return 0
