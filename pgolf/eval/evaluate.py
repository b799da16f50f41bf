"""`pgolf eval`: score an artifact on the val split in a process that never opens a train shard."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pgolf.artifact.container import read_artifact
from pgolf.artifact.export import load_model
from pgolf.config import Config, validate
from pgolf.data.bytes import load_table
from pgolf.data.paths import resolve_data
from pgolf.data.shards import load_split
from pgolf.data.sidecar import target_bytes_for
from pgolf.errors import PgolfError
from pgolf.eval.strategy import evaluate_model
from pgolf import dist as pdist


def run_data_paths(artifact: str | Path, cfg: Config) -> list[tuple[str, str]]:
    """Where an eval looks, in order, as (data, tokenizer): the run folder the
    artifact sits in (its ``config.json``), then the artifact's own paths, which name the official
    relative folders (a model file carries no local paths)."""
    own = (cfg.data_path, cfg.tokenizer_path)
    try:
        run = json.loads((Path(artifact).parent / "config.json").read_text())
        found = (str(run["data_path"]), str(run["tokenizer_path"]))
    except (OSError, ValueError, KeyError, TypeError):
        return [own]
    return [found] if found == own else [found, own]


def _default_data(places: list[tuple[str, str]], vocab_size: int) -> tuple[Path, Path | None]:
    """(dataset folder, tokenizer from its manifest or None) at the first of ``places`` that has one."""
    first = None
    for data, _ in places:
        try:
            return resolve_data(data, vocab_size)
        except PgolfError as e:
            first = first or e
    raise PgolfError(f"{first}; pass --data")


def evaluate_artifact(
    artifact: str | Path,
    data: str | Path | None = None,
    tokenizer: str | Path | None = None,
    device: str = "auto",
    seq_len: int = 0,
    overrides: dict | None = None,
    audit: str | Path | None = None,
    max_tokens: int = 0,
    progress: bool = False,
    environ: dict[str, str] | None = None,
) -> dict:
    """Load, dequantize and score the val split (all of it unless ``max_tokens``).

    ``overrides`` are eval Config fields (eval_stride, eval_doc_aware, ttt_*); ``data`` defaults
    to the run's (:func:`run_data_paths`); ``environ`` carries torchrun's RANK / WORLD_SIZE for a distributed eval.
    """
    t0 = time.perf_counter()
    _, config = read_artifact(artifact)
    cfg = validate(Config.from_dict(config).replace(device=device, **(overrides or {})))
    places = run_data_paths(artifact, cfg)
    dataset_dir, found_tok = resolve_data(data, cfg.vocab_size) if data else _default_data(places, cfg.vocab_size)
    # the tokenizer: as given, else the data's manifest's, else the first of the run's that is here
    tok = Path(tokenizer) if tokenizer else (found_tok or next(
        (Path(t) for _, t in places if Path(t).is_file()), Path(places[-1][1])))
    if not tok.is_file():
        raise PgolfError(f"{tok}: tokenizer not found (pass --tokenizer)")
    ctx = pdist.setup(cfg, environ or {})
    try:
        model, _ = load_model(artifact, ctx.device)
        val = load_split(dataset_dir, "val", cfg.vocab_size)
        table = load_table(tok, cfg.vocab_size)
        nbytes = target_bytes_for(dataset_dir, "val", val, table)  # the byte sidecar, else the official rule
        if max_tokens:
            if max_tokens < 2:
                raise PgolfError(f"--max-tokens must be >= 2, got {max_tokens}")
            val, nbytes = val[:max_tokens], nbytes[:max_tokens - 1]
        pdist.sync(ctx.device)
        load_s = time.perf_counter() - t0
        res = evaluate_model(model, val, table, cfg, ctx.device, seq_len, audit=audit, progress=progress,
                             target_bytes=nbytes)
    finally:
        pdist.teardown()
    res["phase_seconds"] = dict(load=load_s, **res["phase_seconds"])
    return dict(res, load_seconds=load_s, artifact=str(artifact), data=str(dataset_dir), tokenizer=str(tok),
                device=str(ctx.device), world_size=ctx.world_size, partial=bool(max_tokens))
