"""Build token shards (and, if asked, the tokenizer) from a JSON-lines file of documents.

Exactly as the challenge's export does it: every document becomes ``[BOS=1] + sp.encode(text)``
(no EOS); the first ``val_docs`` documents form the val stream and the rest the train stream;
each stream is cut every ``shard_size`` tokens into ``fineweb_{val,train}_NNNNNN.bin``. With the
official tokenizer and settings the shards are byte-identical to the published ones.

Output, in the hub's layout (so ``pgolf data inspect`` and training read it like a fetch)::

    OUT/manifest.json
    OUT/tokenizers/fineweb_<V>_bpe.model
    OUT/datasets/fineweb10B_sp<V>/fineweb_val_000000.bin ... fineweb_train_000000.bin ...

With ``transform="case"`` every text goes through the lossless case transform
(:mod:`pgolf.data.case`) before encoding; the tokenizer is lossless (identity normalisation, the
operators forced into the vocabulary as characters that BPE may merge, e.g. ``.`` + TITLE); the
dataset folder is ``fineweb10B_sp<V>_case`` and the val split carries a byte sidecar
``fineweb_val_bytes_NNNNNN.bin`` (:mod:`pgolf.data.sidecar`).

Documents stream through a worker pool in order; memory holds one shard buffer plus a bounded
window of encoded chunks, never the whole corpus.
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

from pgolf.data import case
from pgolf.data import tokenizer as tok
from pgolf.data.docs import iter_docs
from pgolf.data.fetch import sha256_file
from pgolf.data.shards import BOS_ID, atomic_write, shard_bytes
from pgolf.data.sidecar import SUFFIX, surfaces
from pgolf.errors import PgolfError

TRANSFORMS = ("case",)
CHUNK_DOCS = 64  # documents per task sent to a worker


# ---- writing one stream as shards -------------------------------------------------------

class ShardWriter:
    """Collects one split's token stream and writes a shard every ``shard_size`` tokens."""

    def __init__(self, folder: Path, split: str, shard_size: int, kind: str = ""):
        self.folder, self.split, self.shard_size, self.kind = folder, split, shard_size, kind
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
        kind = f"{self.kind}_" if self.kind else ""
        name = f"fineweb_{self.split}_{kind}{len(self.files):06d}.bin"
        data = shard_bytes(self.buf[:self.fill])
        atomic_write(self.folder / name, data)
        self.files[name] = hashlib.sha256(data).hexdigest()
        self.fill = 0


# ---- encoding in worker processes ------------------------------------------------------

_SP = None  # each worker's SentencePieceProcessor, loaded once
_SURFACES: list[bytes] | None = None  # and, for a transform, each piece's surface bytes


def _init_worker(model_path: str) -> None:
    global _SP, _SURFACES
    _SP = tok.load(model_path)
    _SURFACES = None


def _encode_chunk(texts: list[str]) -> np.ndarray:
    """``[BOS] + ids`` for each text, concatenated, as uint16."""
    encoded = _SP.encode(texts, num_threads=1)
    total = sum(len(ids) for ids in encoded) + len(encoded)
    stream = chain.from_iterable(chain((BOS_ID,), ids) for ids in encoded)
    return np.fromiter(stream, dtype=np.uint16, count=total)


def _encode_chunk_case(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Case-transformed ``[BOS] + ids`` per text, and each token's bytes of the original text."""
    global _SURFACES
    if _SURFACES is None:
        _SURFACES = surfaces(_SP)
    tokens, side = [], []
    transformed = [case.encode(text) for text in texts]
    for text, t, ids in zip(texts, transformed, _SP.encode(transformed, num_threads=1)):
        try:
            nbytes = case.token_bytes([_SURFACES[i] for i in ids], t)
        except case.CaseError:
            raise PgolfError(f"tokenizer does not spell the transformed text back "
                             f"(not a lossless model?): {text[:60]!r}") from None
        tokens.append(np.array([BOS_ID] + ids, dtype=np.uint16))
        side.append(np.concatenate(([0], nbytes)).astype(np.uint16))
    return np.concatenate(tokens), np.concatenate(side)


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


def ordered_map(fn: Callable, items: Iterable[tuple[str, list[str]]], model_path: str,
                workers: int) -> Iterator[tuple[str, int, np.ndarray]]:
    """(split, docs, tokens) per chunk, in input order.

    Like ``Pool.imap`` but with a bounded window of chunks in flight, so a huge input file is
    not read ahead into memory (``imap`` consumes its whole input eagerly).
    """
    if workers <= 1:
        _init_worker(model_path)
        for split, texts in items:
            yield split, len(texts), fn(texts)
        return
    window = 4 * workers
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(model_path,)) as pool:
        pending: deque = deque()
        for split, texts in items:
            pending.append((split, len(texts), pool.apply_async(fn, (texts,))))
            if len(pending) >= window:
                split0, n0, res = pending.popleft()
                yield split0, n0, res.get()
        while pending:
            split0, n0, res = pending.popleft()
            yield split0, n0, res.get()


# ---- the tokenizer -------------------------------------------------------------------------

def lossless_spec(spec: tok.TrainSpec, transform: str | None) -> tok.TrainSpec:
    """``spec`` made lossless (identity normalisation, whitespace kept), with the transform's operators."""
    spec.normalization_rule_name = "identity"
    spec.add_dummy_prefix = False
    spec.extra["remove_extra_whitespaces"] = False
    if transform == "case":
        spec.extra["required_chars"] = "".join(case.OPERATORS)  # pieces of their own, free to merge
    return spec


def _prepare_tokenizer(docs: Path, out: Path, tokenizer: str | Path | None, vocab_size: int | None,
                       val_docs: int, spec: tok.TrainSpec | None,
                       transform: str | None = None) -> tuple[Path, dict | None, float]:
    """The model file under ``OUT/tokenizers/``: trained on the train docs, or copied in."""
    t0 = time.time()
    if tokenizer is not None:
        src = Path(tokenizer)
        sp = tok.load(src)  # a clear error now if it is not a model
        if transform == "case" and not case.is_case_model(sp):
            raise PgolfError(f"{src}: not a case-transform tokenizer (its vocabulary lacks the operators)")
        dst = out / "tokenizers" / src.name
        if not dst.exists() or not os.path.samefile(src, dst):
            atomic_write(dst, src.read_bytes())
        return dst, None, time.time() - t0
    spec = spec or tok.TrainSpec()
    spec.vocab_size = int(vocab_size) if vocab_size is not None else spec.vocab_size
    name = tok.model_filename(spec)
    if transform:
        spec = lossless_spec(spec, transform)
        name = name.replace(".model", f"_{transform}.model")
    dst = out / "tokenizers" / name
    # train docs only, never val
    tok.train(iter_docs(docs, start=val_docs), dst, spec, transform=case.encode if transform else None)
    return dst, asdict(spec), time.time() - t0


# ---- the manifest ------------------------------------------------------------------------

def make_manifest(*, docs: Path, shard_size: int, val: ShardWriter, train: ShardWriter,
                  model_rel: str, model_sha: str, info: dict, train_spec: dict | None,
                  transform: str | None = None, sidecar: ShardWriter | None = None) -> dict[str, Any]:
    """The official manifest schema (see the mirror's ``manifest.json``), plus transform facts."""
    v = info["vocab_size"]
    suffix = f"_{transform}" if transform else ""
    tok_name = f"sp_{info['model_type']}_{v}{suffix}"
    ds_name = f"fineweb10B_sp{v}{suffix}"
    ds_path = f"datasets/{ds_name}"
    tok_entry = {"name": tok_name, "kind": "sentencepiece", "vocab_size": v, "bos_id": info["bos_id"],
                 "eos_id": info["eos_id"], "model_path": model_rel, "sha256": model_sha}
    if train_spec is not None:
        tok_entry["train_spec"] = train_spec
    if transform:
        tok_entry["transform"] = transform
    stats = {
        "docs_total": val.docs + train.docs, "docs_val": val.docs, "docs_train": train.docs,
        "files_total": len(val.files) + len(train.files), "files_val": len(val.files),
        "files_train": len(train.files), "tokens_total": val.tokens + train.tokens,
        "tokens_val": val.tokens, "tokens_train": train.tokens,
    }
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
        "datasets": [{
            "name": ds_name, "tokenizer_name": tok_name, "tokenizer_kind": "sentencepiece",
            "path": ds_path, "train_glob": f"{ds_path}/fineweb_train_*.bin",
            "val_glob": f"{ds_path}/fineweb_val_*.bin", "vocab_size": v,
            "bos_id": info["bos_id"], "eos_id": info["eos_id"], "stats": stats,
            "files": {**val.files, **(sidecar.files if sidecar else {}), **train.files},
            **({"val_bytes_glob": f"{ds_path}/fineweb_val_{SUFFIX}_*.bin"} if sidecar else {}),
        }],
    }


# ---- the command ---------------------------------------------------------------------------

def build(docs: str | Path, out: str | Path, tokenizer: str | Path | None = None,
          vocab_size: int | None = None, val_docs: int = 50_000, shard_size: int = 100_000_000,
          workers: int | None = None, progress: bool = True,
          spec: tok.TrainSpec | None = None, transform: str | None = None) -> dict[str, Any]:
    """Tokenize ``docs`` into val/train shards under ``out``; returns a summary dict.

    Give ``tokenizer`` (a SentencePiece model) or ``vocab_size`` (train a model, BPE with the
    official settings unless ``spec`` says otherwise, on the documents after the first
    ``val_docs``). ``transform="case"``: the lossless case transform with a val byte sidecar.
    """
    docs, out = Path(docs), Path(out)
    if (tokenizer is None) == (vocab_size is None):
        raise PgolfError("build: give exactly one of a tokenizer model or a vocab size to train one")
    if shard_size <= 0:
        raise PgolfError(f"build: shard size must be positive, got {shard_size}")
    if val_docs < 1:
        raise PgolfError(f"build: val docs must be at least 1, got {val_docs}")
    if not docs.is_file():
        raise PgolfError(f"{docs}: documents file not found")
    if transform is not None and transform not in TRANSFORMS:
        raise PgolfError(f"build: unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}")
    workers = max(1, int(workers or os.cpu_count() or 1))

    model_path, train_spec, t_tok = _prepare_tokenizer(docs, out, tokenizer, vocab_size, val_docs, spec,
                                                       transform)
    sp = tok.load(model_path)
    info = tok.describe(sp)
    if info["bos_id"] != BOS_ID:
        raise PgolfError(f"{model_path}: BOS id is {info['bos_id']}; shards need BOS = {BOS_ID}")
    if info["vocab_size"] > 65536:
        raise PgolfError(f"{model_path}: vocab {info['vocab_size']} does not fit uint16 shards")

    folder = out / "datasets" / f"fineweb10B_sp{info['vocab_size']}{'_' + transform if transform else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    writers = {"val": ShardWriter(folder, "val", shard_size), "train": ShardWriter(folder, "train", shard_size)}
    sidecar = ShardWriter(folder, "val", shard_size, kind=SUFFIX) if transform else None

    from tqdm import tqdm

    t0 = time.time()
    bar = tqdm(desc=f"build sp{info['vocab_size']}", unit="doc",
               disable=not (progress and sys.stderr.isatty()))
    chunks = _chunks(iter_docs(docs), val_docs, CHUNK_DOCS)
    encode = _encode_chunk_case if transform == "case" else _encode_chunk
    for split, n, tokens in ordered_map(encode, chunks, str(model_path), workers):
        if transform:
            tokens, nbytes = tokens
            if split == "val":
                sidecar.add(nbytes, n)
        writers[split].add(tokens, n)
        bar.update(n)
    bar.close()
    val, train = writers["val"], writers["train"]
    if val.docs < val_docs or train.docs == 0:
        raise PgolfError(f"{docs}: only {val.docs + train.docs} documents; --val-docs {val_docs} "
                         "leaves no train documents")
    val.flush()
    train.flush()
    if sidecar is not None:
        sidecar.flush()
    t_enc = time.time() - t0

    written = {**val.files, **(sidecar.files if sidecar else {}), **train.files}
    for stale in folder.glob("fineweb_*.bin"):  # shards of an earlier, larger build
        if stale.name not in written:
            stale.unlink()
    manifest = make_manifest(docs=docs, shard_size=shard_size, val=val, train=train,
                             model_rel=model_path.relative_to(out).as_posix(),
                             model_sha=sha256_file(model_path), info=info, train_spec=train_spec,
                             transform=transform, sidecar=sidecar)
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
