"""Build token shards (and, if asked, the tokenizer) from a JSON-lines file of documents.

Exactly as the challenge's export does it: every document becomes ``[BOS] + sp.encode(text)``
(no EOS); the first ``val_docs`` documents form the val stream and the rest the train stream;
each stream is cut every ``shard_size`` tokens into ``fineweb_{val,train}_NNNNNN.bin``. With the
official tokenizer and settings the shards are byte-identical to the published ones.

Output, in the hub's layout (so ``pgolf data inspect`` and training read it like a fetch)::

    OUT/manifest.json
    OUT/tokenizers/fineweb_<V>_bpe.model
    OUT/datasets/fineweb10B_sp<V>/fineweb_val_000000.bin ... fineweb_train_000000.bin ...

With a transform (:mod:`pgolf.data.transforms`) every text goes through it before encoding and
the val split gets a byte sidecar ``fineweb_val_bytes_NNNNNN.bin`` (:mod:`pgolf.data.sidecar`).
``caseops-v1`` (the records' data): a trained tokenizer reserves the four operators as
user-defined pieces (otherwise the official settings) and the names carry the hub's suffix
``lossless_caps_caseops_v1_reserved``; with the record's tokenizer this reproduces
``romeerp/parameter-golf-caseops-v1`` byte for byte. ``case``: our own transform, lossless
tokenizer, suffix ``case``.

The val count is checked against the documents' source manifest (``docs_val``): a smaller
count would put val documents into train.

Documents stream through a worker pool in order; memory holds one shard buffer plus a bounded
window of encoded chunks, never the whole corpus. Only the documents kept (``max_docs``) are
read, transformed and encoded.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from pgolf.data import tokenizer as tok
from pgolf.data import transforms
from pgolf.data.docs import iter_docs, read_source_manifest, source_manifest_path
from pgolf.data.fetch import sha256_file
from pgolf.data.shards import shard_bytes, shard_glob, shard_name
from pgolf.io import atomic_write
from pgolf.data.sidecar import doc_sidecar, piece_text, sidecar_glob, sidecar_name
from pgolf.errors import PgolfError

CHUNK_DOCS = 64  # documents per task sent to a worker


# ---- writing one stream as shards -------------------------------------------------------

class ShardWriter:
    """Collects one stream and writes a file ``name(i)`` every ``shard_size`` tokens."""

    def __init__(self, folder: Path, name: Callable[[int], str], shard_size: int):
        self.folder, self.name, self.shard_size = folder, name, shard_size
        self.buf = np.empty(shard_size, dtype=np.uint16)
        self.fill = 0
        self.tokens = 0
        self.docs = 0
        self.files: dict[str, str] = {}  # name -> sha256, in order

    def add(self, tokens: np.ndarray, docs: int) -> None:
        self.docs += docs
        self.tokens += len(tokens)
        pos = 0
        while pos < len(tokens):
            take = min(len(tokens) - pos, self.shard_size - self.fill)
            self.buf[self.fill:self.fill + take] = tokens[pos:pos + take]
            self.fill += take
            pos += take
            if self.fill == self.shard_size:
                self.flush()

    def flush(self) -> None:
        if not self.fill:
            return
        name = self.name(len(self.files))
        data = shard_bytes(self.buf[:self.fill])
        atomic_write(self.folder / name, data)
        self.files[name] = hashlib.sha256(data).hexdigest()
        self.fill = 0


# ---- encoding in worker processes ------------------------------------------------------

_SP = None  # each worker's SentencePieceProcessor, loaded once
_PIECES = None  # and its pieces' text lengths, for sidecars
_TRANSFORM = None  # the transform module, or None


def _init_worker(model_path: str, transform: str | None) -> None:
    global _SP, _PIECES, _TRANSFORM
    _SP = tok.load(model_path)
    _TRANSFORM = transforms.get(transform) if transform else None
    _PIECES = piece_text(_SP) if transform else None


def _stream(encoded: list[list[int]]) -> np.ndarray:
    """``[BOS] + ids`` for each document, concatenated, as uint16."""
    total = sum(len(ids) for ids in encoded) + len(encoded)
    return np.fromiter(chain.from_iterable(chain((tok.BOS_ID,), ids) for ids in encoded),
                       dtype=np.uint16, count=total)


def _encode_chunk(split: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """The chunk's token stream and, for the val split of a transform, its byte sidecar."""
    if _TRANSFORM is None:
        return _stream(_SP.encode(texts, num_threads=1)), None
    transformed = [_TRANSFORM.encode(text) for text in texts]
    encoded = _SP.encode(transformed, num_threads=1)
    if split != "val":
        return _stream(encoded), None
    decoded = _SP.decode(encoded, num_threads=1)
    side = [doc_sidecar(_SP, _PIECES, t, ids, d, _TRANSFORM.byte_weights)
            for t, ids, d in zip(transformed, encoded, decoded)]
    return _stream(encoded), np.concatenate(side)


def _chunks(texts: Iterable[str], val_docs: int, size: int) -> Iterator[tuple[str, list[str]]]:
    """(split, texts) chunks of up to ``size`` documents; no chunk crosses the val/train line."""
    batch: list[str] = []
    split = "val" if val_docs > 0 else "train"
    for i, text in enumerate(texts):
        if i == val_docs and batch:
            yield split, batch
            batch = []
        split = "val" if i < val_docs else "train"
        batch.append(text)
        if len(batch) == size:
            yield split, batch
            batch = []
    if batch:
        yield split, batch


def ordered_map(fn: Callable, items: Iterable[tuple[str, list[str]]], init: tuple,
                workers: int) -> Iterator[tuple[str, int, Any]]:
    """(split, docs, ``fn(split, texts)``) per chunk, in input order.

    Like ``Pool.imap`` but with a bounded window of chunks in flight, so a huge input file is
    not read ahead into memory (``imap`` consumes its whole input eagerly).
    """
    if workers <= 1:
        _init_worker(*init)
        for split, texts in items:
            yield split, len(texts), fn(split, texts)
        return
    window = 4 * workers
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=init) as pool:
        pending: deque = deque()
        for split, texts in items:
            pending.append((split, len(texts), pool.apply_async(fn, (split, texts))))
            if len(pending) >= window:
                split0, n0, res = pending.popleft()
                yield split0, n0, res.get()
        while pending:
            split0, n0, res = pending.popleft()
            yield split0, n0, res.get()


# ---- the val split and the tokenizer ---------------------------------------------------

def resolve_val_docs(docs: Path, val_docs: int | None, allow_mismatch: bool = False) -> int:
    """The val count: as given, else the source manifest's ``docs_val``; refused if they disagree.

    A build whose val count is below the official split's puts val documents into train (the
    overlap that excluded fifteen CaseOps submissions); one above it scores on train documents.
    """
    source = read_source_manifest(docs)
    official = source.get("docs_val") if source else None
    if val_docs is None:
        if official is None:
            raise PgolfError(f"{docs}: no {source_manifest_path(docs).name} with docs_val beside it; "
                             "pass --val-docs N")
        return int(official)
    if official is not None and int(val_docs) != int(official) and not allow_mismatch:
        where = source_manifest_path(docs).name
        harm = "val documents would land in train" if val_docs < official else "train documents would be scored as val"
        raise PgolfError(f"--val-docs {val_docs} disagrees with {where} (docs_val {official}): {harm}; "
                         "leave --val-docs out, or pass --allow-val-mismatch")
    return int(val_docs)


def _prepare_tokenizer(docs: Path, out: Path, tokenizer: str | Path | None, vocab_size: int | None,
                       val_docs: int, max_docs: int | None, spec: tok.TrainSpec | None,
                       transform: str | None = None) -> tuple[Path, dict | None, float]:
    """The model file under ``OUT/tokenizers/``: trained on the train docs, or copied in."""
    t0 = time.time()
    if tokenizer is not None:
        src = Path(tokenizer)
        sp = tok.load(src)  # a clear error now if it is not a model
        if transform and not transforms.get(transform).is_model(sp):
            raise PgolfError(f"{src}: not a {transform} tokenizer (its vocabulary lacks the operators)")
        dst = out / "tokenizers" / src.name
        if not dst.exists() or not os.path.samefile(src, dst):
            atomic_write(dst, src.read_bytes())
        return dst, None, time.time() - t0
    spec = spec or tok.TrainSpec()
    spec.vocab_size = int(vocab_size) if vocab_size is not None else spec.vocab_size
    name = tok.model_filename(spec)
    encode = None
    if transform:
        t = transforms.get(transform)
        spec, encode = t.train_spec(spec), t.encode
        name = name.replace(".model", f"_{t.suffix}.model")
    dst = out / "tokenizers" / name
    # train docs only, never val
    tok.train(iter_docs(docs, start=val_docs, stop=max_docs), dst, spec, transform=encode)
    return dst, asdict(spec), time.time() - t0


# ---- the manifest ------------------------------------------------------------------------

def make_manifest(*, docs: Path, shard_size: int, val: ShardWriter, train: ShardWriter,
                  model_rel: str, model_sha: str, info: dict, train_spec: dict | None,
                  transform: str | None = None, sidecar: ShardWriter | None = None,
                  val_bytes: int = 0) -> dict[str, Any]:
    """The official manifest schema (see the mirror's ``manifest.json``), plus transform facts
    in the hub's CaseOps schema (``text_transform``, ``val_bytes_glob``, ``files_val_bytes``)."""
    v = info["vocab_size"]
    suffix = f"_{transforms.get(transform).suffix}" if transform else ""
    tok_name = f"sp_{info['model_type']}_{v}{suffix}"
    ds_name = f"fineweb10B_sp{v}{suffix}"
    ds_path = f"datasets/{ds_name}"
    tok_entry = {"name": tok_name, "kind": "sentencepiece", "vocab_size": v, "bos_id": info["bos_id"],
                 "eos_id": info["eos_id"], "model_path": model_rel, "sha256": model_sha}
    if train_spec is not None:
        tok_entry["train_spec"] = train_spec
    if transform:
        tok_entry["text_transform"] = transforms.get(transform).text_transform
    side_files = sidecar.files if sidecar else {}
    stats = {
        "docs_total": val.docs + train.docs, "docs_val": val.docs, "docs_train": train.docs,
        "files_total": len(val.files) + len(side_files) + len(train.files), "files_val": len(val.files),
        "files_train": len(train.files), "tokens_total": val.tokens + train.tokens,
        "tokens_val": val.tokens, "tokens_train": train.tokens,
    }
    dataset = {
        "name": ds_name, "tokenizer_name": tok_name, "tokenizer_kind": "sentencepiece",
        "path": ds_path, "train_glob": f"{ds_path}/{shard_glob('train')}",
        "val_glob": f"{ds_path}/{shard_glob('val')}", "vocab_size": v,
        "bos_id": info["bos_id"], "eos_id": info["eos_id"], "stats": stats,
        "files": {**val.files, **side_files, **train.files},
    }
    if sidecar is not None:
        dataset["val_bytes_glob"] = f"{ds_path}/{sidecar_glob('val')}"
        stats["files_val_bytes"] = len(side_files)
        stats["val_bytes_total"] = val_bytes
    return {
        "version": "pgolf-build-1",
        "num_docs": val.docs + train.docs,
        "num_val_docs": val.docs,
        "shuffle_seed": None,  # documents are taken in file order
        "shard_size": shard_size,
        "append_eos": False,
        "docs_jsonl": docs.name,
        "docs_path": str(docs.resolve()),
        "tokenizer_specs": [{"name": tok_name, "dataset_suffix": f"sp{v}{suffix}", "vocab_size": v}],
        "tokenizers": [tok_entry],
        "datasets": [dataset],
    }


# ---- the command ---------------------------------------------------------------------------

def build(docs: str | Path, out: str | Path, tokenizer: str | Path | None = None,
          vocab_size: int | None = None, val_docs: int | None = None, shard_size: int = 100_000_000,
          workers: int | None = None, progress: bool = True, spec: tok.TrainSpec | None = None,
          transform: str | None = None, max_docs: int | None = None,
          allow_val_mismatch: bool = False) -> dict[str, Any]:
    """Tokenize ``docs`` into val/train shards under ``out``; returns a summary dict.

    Give ``tokenizer`` (a SentencePiece model) or ``vocab_size`` (train a model, BPE with the
    official settings unless ``spec`` says otherwise, on the train documents). ``val_docs``:
    the first N documents are val (default: the source manifest's ``docs_val``; a different
    count is refused unless ``allow_val_mismatch``). ``max_docs``: only the first N documents.
    ``transform``: ``"caseops-v1"`` (the records') or ``"case"``, with a val byte sidecar.
    """
    docs, out = Path(docs), Path(out)
    if (tokenizer is None) == (vocab_size is None):
        raise PgolfError("build: give exactly one of a tokenizer model or a vocab size to train one")
    if shard_size <= 0:
        raise PgolfError(f"build: shard size must be positive, got {shard_size}")
    if not docs.is_file():
        raise PgolfError(f"{docs}: documents file not found")
    if transform is not None:
        transforms.get(transform)  # a one-line error for an unknown name
    val_docs = resolve_val_docs(docs, val_docs, allow_val_mismatch)
    if val_docs < 1:
        raise PgolfError(f"build: val docs must be at least 1, got {val_docs}")
    if max_docs is not None and max_docs <= val_docs:
        raise PgolfError(f"build: --max-docs {max_docs} leaves no train documents after {val_docs} val")
    workers = max(1, int(workers or os.cpu_count() or 1))

    model_path, train_spec, t_tok = _prepare_tokenizer(docs, out, tokenizer, vocab_size, val_docs, max_docs,
                                                       spec, transform)
    sp = tok.load(model_path)
    info = tok.describe(sp)
    if info["bos_id"] != tok.BOS_ID:
        raise PgolfError(f"{model_path}: BOS id is {info['bos_id']}; shards need BOS = {tok.BOS_ID}")
    if info["vocab_size"] > 65536:
        raise PgolfError(f"{model_path}: vocab {info['vocab_size']} does not fit uint16 shards")

    suffix = f"_{transforms.get(transform).suffix}" if transform else ""
    folder = out / "datasets" / f"fineweb10B_sp{info['vocab_size']}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    writers = {split: ShardWriter(folder, lambda i, s=split: shard_name(s, i), shard_size)
               for split in ("val", "train")}
    sidecar = ShardWriter(folder, lambda i: sidecar_name("val", i), shard_size) if transform else None
    val_bytes = 0

    from tqdm import tqdm

    t0 = time.time()
    bar = tqdm(desc=f"build sp{info['vocab_size']}{suffix}", unit="doc", total=max_docs,
               disable=not (progress and sys.stderr.isatty()))
    chunks = _chunks(iter_docs(docs, stop=max_docs), val_docs, CHUNK_DOCS)
    for split, n, (tokens, nbytes) in ordered_map(_encode_chunk, chunks, (str(model_path), transform), workers):
        if nbytes is not None:
            sidecar.add(nbytes, n)
            val_bytes += int(nbytes.sum(dtype=np.int64))
        writers[split].add(tokens, n)
        bar.update(n)
    bar.close()
    val, train = writers["val"], writers["train"]
    if val.docs < val_docs or train.docs == 0:
        raise PgolfError(f"{docs}: only {val.docs + train.docs} documents; --val-docs {val_docs} "
                         "leaves no train documents")
    for writer in (val, train, sidecar):
        if writer is not None:
            writer.flush()
    t_enc = time.time() - t0

    written = {**val.files, **(sidecar.files if sidecar else {}), **train.files}
    for stale in folder.glob("fineweb_*.bin"):  # shards of an earlier, larger build
        if stale.name not in written:
            stale.unlink()
    manifest = make_manifest(docs=docs, shard_size=shard_size, val=val, train=train,
                             model_rel=model_path.relative_to(out).as_posix(),
                             model_sha=sha256_file(model_path), info=info, train_spec=train_spec,
                             transform=transform, sidecar=sidecar, val_bytes=val_bytes)
    atomic_write(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return {
        "out": str(out),
        "data_path": str(folder),
        "tokenizer_path": str(model_path),
        "tokenizer_trained": train_spec is not None,
        "vocab_size": info["vocab_size"],
        "transform": transform,
        "workers": workers,
        "stats": manifest["datasets"][0]["stats"],
        "files": written,
        "seconds": {"tokenizer": round(t_tok, 3), "encode": round(t_enc, 3)},
    }
