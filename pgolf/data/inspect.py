"""Count what a dataset holds: documents, tokens, scored targets and bytes, per split.

Each split is one contiguous token stream (its shards concatenated in order), scored as the
evaluation scores it: every token but the first is a target, so ``target_tokens = tokens - 1``
and ``bytes`` is the sum of the byte rule over those targets (:mod:`pgolf.data.bytes`).
A split with a byte sidecar (:mod:`pgolf.data.sidecar`) takes its bytes from the sidecar instead
(a CaseOps dataset ships one for val only, so its train bytes are the official rule's, which
counts each operator as its 3 UTF-8 bytes). Documents are counted by their BOS tokens. Shards
are read one at a time, so a 10-billion-token train split inspects in constant memory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from pgolf.data.bytes import ByteTable, load_table
from pgolf.data.paths import dataset_bos_id, resolve_data
from pgolf.data.shards import read_shard, shard_files
from pgolf.data.tokenizer import BOS_ID
from pgolf.data.sidecar import load_sidecar
from pgolf.errors import PgolfError

SPLITS = ("val", "train")


def count_split(files: list[Path], table: ByteTable, progress: bool = False, bos_id: int = BOS_ID) -> dict[str, int]:
    """Documents, tokens, target tokens and bytes of the stream made of ``files``."""
    from tqdm import tqdm

    docs = tokens = nbytes = 0
    prev = None  # the last token of the previous shard: the stream runs across shard boundaries
    for f in tqdm(files, desc=files[0].name.split("_")[1], unit="shard", disable=not progress):
        t = read_shard(f, table.vocab_size)
        docs += int(np.count_nonzero(t == bos_id))
        tokens += len(t)
        stream = t if prev is None else np.concatenate(([prev], t))
        if len(stream) > 1:
            nbytes += int(table.target_bytes(stream[:-1], stream[1:]).sum(dtype=np.int64))
        if len(t):
            prev = t[-1]
    return {"docs": docs, "tokens": tokens, "target_tokens": max(tokens - 1, 0), "bytes": nbytes}


def inspect(data: str | Path, tokenizer: str | Path | None = None, progress: bool | None = None) -> dict[str, Any]:
    """``{"val": {...}, "train": {...}}`` plus where the data and tokenizer were found.

    A split without shards reports zeros (a fetch with ``--train-shards 0`` is legitimate).
    """
    dataset_dir, found_tok = resolve_data(data)
    model = Path(tokenizer) if tokenizer else found_tok
    if model is None:
        raise PgolfError(f"{data}: cannot find the tokenizer (no manifest entry); pass --tokenizer MODEL")
    table = load_table(model)
    show = sys.stderr.isatty() if progress is None else progress
    out: dict[str, Any] = {}
    for split in SPLITS:
        try:
            files = shard_files(dataset_dir, split)
        except PgolfError:
            out[split] = {"docs": 0, "tokens": 0, "target_tokens": 0, "bytes": 0, "shards": 0}
            continue
        out[split] = {**count_split(files, table, show, dataset_bos_id(dataset_dir)), "shards": len(files)}
        side = load_sidecar(dataset_dir, split)  # a transform's bytes of the original text
        if side is not None:
            out[split]["bytes"] = int(side[1:].sum(dtype=np.int64))
        out[split]["byte_source"] = "sidecar" if side is not None else "official rule"
    for split in SPLITS:
        s = out[split]
        s["tokens_per_byte"] = round(s["target_tokens"] / s["bytes"], 6) if s["bytes"] else None
    out["data_path"] = str(dataset_dir)
    out["tokenizer"] = str(model)
    return out


def format_report(report: dict[str, Any]) -> str:
    lines = [f"data:      {report['data_path']}", f"tokenizer: {report['tokenizer']}",
             f"{'split':<6}{'shards':>8}{'docs':>12}{'tokens':>16}{'target_tokens':>16}{'bytes':>16}{'tok/byte':>10}"]
    for split in SPLITS:
        s = report[split]
        tpb = f"{s['tokens_per_byte']:.4f}" if s["tokens_per_byte"] is not None else "-"
        lines.append(f"{split:<6}{s['shards']:>8,}{s['docs']:>12,}{s['tokens']:>16,}{s['target_tokens']:>16,}"
                     f"{s['bytes']:>16,}{tpb:>10}")
    sources = {split: report[split].get("byte_source") for split in SPLITS if report[split].get("byte_source")}
    if len(set(sources.values())) > 1:
        lines.append("bytes: " + ", ".join(f"{split} from the {src}" for split, src in sources.items()))
    return "\n".join(lines)
