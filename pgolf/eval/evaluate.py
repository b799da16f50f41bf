"""`pgolf eval`: score an artifact on the val split in a process that never opens a train shard."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from pgolf.artifact.container import read_artifact
from pgolf.artifact.export import load_model
from pgolf.config import Config
from pgolf.data.bytes import load_table
from pgolf.data.paths import resolve_data
from pgolf.data.shards import load_split
from pgolf.data.sidecar import target_bytes_for
from pgolf.errors import PgolfError
from pgolf.eval.score import score_stream
from pgolf.train.dist import pick_device


def evaluate_artifact(
    artifact: str | Path,
    data: str | Path | None = None,
    tokenizer: str | Path | None = None,
    device: str = "auto",
    seq_len: int = 0,
) -> dict:
    """Load, dequantize and score the whole val split. ``data`` defaults to the run's data_path."""
    t0 = time.perf_counter()
    _, config = read_artifact(artifact)
    cfg = Config.from_dict(config)
    dataset_dir, found_tok = resolve_data(data or cfg.data_path, cfg.vocab_size)
    tok = Path(tokenizer) if tokenizer else (found_tok or Path(cfg.tokenizer_path))
    if not tok.is_file():
        raise PgolfError(f"{tok}: tokenizer not found (pass --tokenizer)")
    dev = pick_device(cfg.replace(device=device))
    model, cfg = load_model(artifact, dev)
    val = load_split(dataset_dir, "val", cfg.vocab_size)
    table = load_table(tok)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = score_stream(model, val, table, seq_len or cfg.eval_seq_len or cfg.train_seq_len, cfg.val_batch_size, dev,
                       target_bytes=target_bytes_for(dataset_dir, "val", val, table))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    score_s = time.perf_counter() - t1
    return dict(res, eval_seconds=score_s, load_seconds=load_s, artifact=str(artifact),
                data=str(dataset_dir), tokenizer=str(tok), device=str(dev))
