"""`pgolf bench proxy`: rank recipes by what each reaches in the same training wall time.

Each recipe ("PRESET key=value ...") is trained by `pgolf train` in its own process (no compile
cache, allocator state or stray environment variable shared between recipes) with
``max_wallclock_seconds`` = the given seconds, on the same data; the training clock counts
steps only, as in a real run (compile warm-up and evaluation are outside it). The artifact it
exports is then scored by `pgolf eval` in another fresh process. One row per recipe: steps,
tokens seen, tokens/s, peak memory, val_bpb before and after quantization, artifact bytes.

``val_tokens`` scores only the first whole documents of the val split up to that many tokens
(every recipe sees the same cut): a cheaper, noisier estimate for small machines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pgolf.config import Config, env_overrides, load_config, parse_kv
from pgolf.data.paths import dataset_bos_id, resolve_data
from pgolf.data.shards import load_split, shard_files, write_shard
from pgolf.data.tokenizer import BOS_ID
from pgolf.data.sidecar import load_sidecar, sidecar_name
from pgolf.errors import PgolfError

# Fields the proxy sets itself: a recipe that sets them would break the equal-time comparison.
CONTROLLED = ("data_path", "tokenizer_path", "max_wallclock_seconds", "wallclock_guard", "iterations", "out_dir",
              "run_id")
NO_ITERATION_CAP = 1_000_000_000  # the clock, not the step count, ends every proxy run


@dataclass
class Recipe:
    text: str
    preset: str
    overrides: dict[str, str] = field(default_factory=dict)
    cfg: Config | None = None


def parse_recipe(text: str) -> Recipe:
    """``"PRESET key=value ..."`` -> Recipe, validated now so a typo fails before any training."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise PgolfError(f"recipe {text!r}: {e}") from None
    if not words:
        raise PgolfError("empty recipe (expected \"PRESET [key=value ...]\")")
    preset, kv = words[0], parse_kv(words[1:])
    taken = [k for k in kv if k in CONTROLLED]
    if taken:
        raise PgolfError(f"recipe {text!r} sets {', '.join(taken)}, which the proxy controls")
    try:
        cfg = load_config(preset, **kv)
    except PgolfError as e:
        raise PgolfError(f"recipe {text!r}: {e}") from None
    return Recipe(text, preset, kv, cfg)


def cut_val(tokens: np.ndarray, limit: int, bos_id: int = BOS_ID) -> np.ndarray:
    """The first whole documents (each starts with BOS) holding at most ``limit`` tokens."""
    if limit <= 0 or limit >= len(tokens):
        return tokens
    starts = np.flatnonzero(tokens[: limit + 1] == bos_id)
    end = int(starts[-1]) if len(starts) and starts[-1] > 0 else limit
    return tokens[:end]


def prepare_data(data: str | Path, out_dir: Path, vocab_size: int, val_tokens: int = 0) -> tuple[Path, Path]:
    """(dataset folder, tokenizer) every recipe uses; with ``val_tokens`` a cut copy of val.

    The cut copy lives in ``out_dir/data``: the train shards are linked, not copied; a byte
    sidecar beside val is cut to the same tokens.
    """
    dataset_dir, tokenizer = resolve_data(data, vocab_size)
    if tokenizer is None:
        raise PgolfError(f"{data}: no tokenizer found beside the shards")
    if val_tokens <= 0:
        return dataset_dir, tokenizer
    root = out_dir / "data"
    cut_dir = root / "datasets" / dataset_dir.name
    cut_dir.mkdir(parents=True, exist_ok=True)
    for f in shard_files(dataset_dir, "train"):
        link = cut_dir / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
    val = cut_val(load_split(dataset_dir, "val", vocab_size), val_tokens, dataset_bos_id(dataset_dir))
    write_shard(cut_dir / "fineweb_val_000000.bin", val)
    side = load_sidecar(dataset_dir, "val")  # a transformed dataset's byte sidecar is cut in step
    if side is not None:
        write_shard(cut_dir / sidecar_name("val", 0), side[: len(val)])
    tok_dir = root / "tokenizers"
    tok_dir.mkdir(parents=True, exist_ok=True)
    tok_link = tok_dir / tokenizer.name
    if not tok_link.exists():
        tok_link.symlink_to(tokenizer.resolve())
    return cut_dir, tok_link


def child_env() -> dict[str, str]:
    """The environment without Config variables (NUM_LAYERS=...) or torchrun's: recipes say it all."""
    drop = {k.upper() for k in env_overrides(dict(os.environ))} | {"RANK", "WORLD_SIZE", "LOCAL_RANK"}
    return {k: v for k, v in os.environ.items() if k.upper() not in drop}


def _train_child(cmd: list[str], seconds: float, desc: str, progress: bool) -> tuple[int, str]:
    """Run `pgolf train` (stdout is in its train.log); (exit code, its last stderr line)."""
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=child_env()) as p:
        if progress:
            from tqdm import tqdm

            t0 = time.perf_counter()
            with tqdm(total=round(seconds), unit="s", desc=desc, leave=False) as bar:
                while p.poll() is None:
                    time.sleep(0.5)
                    bar.n = min(round(time.perf_counter() - t0), bar.total)
                    bar.refresh()
        err = p.communicate()[1]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return p.returncode, (lines[-1] if lines else "")


def run_recipe(recipe: Recipe, index: int, seconds: float, dataset_dir: Path, tokenizer: Path, out_dir: Path,
               progress: bool = False) -> dict:
    """Train one recipe for ``seconds``, score its artifact in a fresh process; one table row."""
    from pgolf.run import fresh_eval

    run_id = f"{index:02d}-" + re.sub(r"[^A-Za-z0-9.=-]+", "_", recipe.text)[:60]
    kv = dict(val_loss_every="0", allow_over_cap="true")
    kv.update(recipe.overrides)
    kv.update(data_path=str(dataset_dir), tokenizer_path=str(tokenizer), max_wallclock_seconds=str(seconds),
              wallclock_guard="false", iterations=str(NO_ITERATION_CAP), out_dir=str(out_dir / "runs"), run_id=run_id)
    cmd = [sys.executable, "-m", "pgolf", "train", "--preset", recipe.preset, *(f"{k}={v}" for k, v in kv.items())]
    row: dict = dict(recipe=recipe.text, preset=recipe.preset, overrides=recipe.overrides,
                     run_dir=str(out_dir / "runs" / run_id))
    t0 = time.perf_counter()
    code, last = _train_child(cmd, seconds, f"[{index}] train", progress)
    summary_path = out_dir / "runs" / run_id / "summary.json"
    if code != 0 or not summary_path.is_file():
        return dict(row, error=last or f"pgolf train exited {code}")
    s = json.loads(summary_path.read_text())
    try:
        fresh = fresh_eval(s["artifact"], dataset_dir, tokenizer)
    except PgolfError as e:
        return dict(row, error=str(e))
    cfg = recipe.cfg
    tokens = s["steps"] * cfg.train_batch_tokens
    return dict(
        row,
        steps=s["steps"],
        train_seconds=s["train_seconds"],
        step_ms=1000 * s["train_seconds"] / max(s["steps"], 1),
        batch_tokens=cfg.train_batch_tokens,
        grad_accum_total=cfg.grad_accum_total,
        tokens_seen=tokens,
        tokens_per_s=tokens / s["train_seconds"] if s["train_seconds"] > 0 else 0.0,
        peak_memory_bytes=s.get("peak_memory_bytes"),
        pre_quant_val_loss=s["pre_quant_val_loss"],
        pre_quant_val_bpb=s["pre_quant_val_bpb"],
        val_loss=fresh["val_loss"],
        val_bpb=fresh["val_bpb"],
        quant_gap_bpb=fresh["val_bpb"] - s["pre_quant_val_bpb"],
        in_process_val_bpb=s["val_bpb"],
        bytes_model=s["bytes_model"],
        bytes_code=s["bytes_code"],
        bytes_total=s["bytes_total"],
        over_cap=s["headroom"] < 0,
        eval_seconds=fresh["eval_seconds"],
        target_tokens=fresh["target_tokens"],
        wall_seconds=time.perf_counter() - t0,
    )


def rank_rows(rows: list[dict]) -> list[dict]:
    """Add ``rank`` (1 = lowest post-quant val_bpb) to every row that finished."""
    done = sorted((r for r in rows if "val_bpb" in r), key=lambda r: r["val_bpb"])
    for i, r in enumerate(done, 1):
        r["rank"] = i
    return rows
