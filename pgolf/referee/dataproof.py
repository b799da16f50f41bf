"""The checks that need the data: the tokenizer's byte-count proof and train/val document overlap.

Byte table a record declares: a file ``*byte_table*.json`` shipped beside its tokenizer (in the
folder, ``tokenizers/`` or ``tokenizer/``) holding ``{"base": [...], "leading_space": [...],
"boundary": [...]}`` indexed by token id (the three arrays of :class:`pgolf.data.bytes.ByteTable`).
That is the table its ``train_gpt.py`` counts bytes with, so it is the table proved. Without one,
the table is derived from the tokenizer by the official rule.

Overlap: every document of the val shards and of the train shards (split at BOS; a document
may run across a shard boundary) is fingerprinted by a 64-bit BLAKE2b hash of its tokens; any val
document of at least ``MIN_DOC_TOKENS`` tokens whose fingerprint occurs among the train documents fails.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pgolf.data.paths import dataset_bos_id
from pgolf.data.shards import HEADER_BYTES, read_header, shard_files
from pgolf.errors import PgolfError
from pgolf.referee.records import Record
from pgolf.referee.verdict import FAIL, NA, PASS, verdict

MIN_DOC_TOKENS = 8  # shorter val documents (boilerplate one-liners) may repeat by chance


def save_byte_table(table, path: str | Path) -> None:
    from pgolf.io import atomic_write

    obj = {"base": table.base.tolist(), "leading_space": table.leading_space.astype(int).tolist(),
           "boundary": table.boundary.astype(int).tolist()}
    atomic_write(path, json.dumps(obj).encode())


def load_byte_table(path: str | Path):
    from pgolf.data.bytes import ByteTable

    try:
        obj = json.loads(Path(path).read_text())
        base = np.asarray(obj["base"], dtype=np.int32)
        lead = np.asarray(obj["leading_space"], dtype=bool)
        bound = np.asarray(obj["boundary"], dtype=bool)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PgolfError(f"{path}: not a byte table ({e})") from None
    if not (len(base) == len(lead) == len(bound)):
        raise PgolfError(f"{path}: base, leading_space and boundary differ in length")
    return ByteTable(base=base, leading_space=lead, boundary=bound)


def tokenizer_rule(rec: Record, data: str | Path | None) -> dict:
    name = "tokenizer_bytes"
    if not rec.tokenizers:
        return verdict(name, NA, "the folder ships no tokenizer (*.model); nothing to prove")
    if data is None:
        return verdict(name, NA, f"ships {', '.join(p.name for p in rec.tokenizers)}; pass --data to prove its byte count")
    try:
        from pgolf.data.prove import prove
    except ImportError:
        return verdict(name, NA, "pgolf.data.prove is not installed")
    results = []
    for tok in rec.tokenizers:
        tables = [p for p in rec.byte_tables if p.parent == tok.parent] or rec.byte_tables
        table = load_byte_table(tables[0]) if tables else None
        try:
            res = prove(str(data), tokenizer=str(tok), byte_table=table, progress=False)
        except PgolfError as e:
            return verdict(name, NA, f"{tok.name}: cannot prove: {e}")
        src = f" with {tables[0].name}" if tables else ""
        detail = (f"{tok.name}{src}: counted {res.get('bytes_counted', 0):,} bytes vs "
                  f"{res.get('bytes_reference', 0):,} ({res.get('reference')}), {res.get('mismatches', 0)} mismatching documents")
        if not res.get("ok") and res.get("first_mismatch") is not None:
            detail += f"; first: {str(res['first_mismatch'])[:200]}"
        results.append((bool(res.get("ok")), detail))
    status = PASS if all(ok for ok, _ in results) else FAIL
    return verdict(name, status, "; ".join(d for _, d in results))


def _doc_hashes(tokens: np.ndarray, carry: np.ndarray, bos_id: int) -> tuple[list[tuple[bytes, int]], np.ndarray]:
    """Fingerprints of the complete documents in ``carry + tokens``; returns them and the open tail."""
    stream = np.concatenate([carry, tokens]) if len(carry) else np.asarray(tokens)
    starts = np.flatnonzero(stream == bos_id)
    out = []
    for a, b in zip(starts[:-1], starts[1:]):
        out.append((fingerprint(stream[a + 1:b]), int(b - a - 1)))
    tail = stream[starts[-1]:] if len(starts) else stream
    return out, np.array(tail)


def fingerprint(doc: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(doc, dtype="<u2").tobytes(), digest_size=8).digest()


def split_fingerprints(files: list[Path], bos_id: int) -> list[tuple[bytes, int]]:
    """(fingerprint, length) of every document of a split, in order."""
    docs: list[tuple[bytes, int]] = []
    carry = np.zeros(0, dtype=np.uint16)
    for f in files:
        n = read_header(f)
        tokens = np.memmap(f, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(n,)) if n else np.zeros(0, np.uint16)
        found, carry = _doc_hashes(np.asarray(tokens), carry, bos_id)
        docs.extend(found)
    if len(carry) > 1 and carry[0] == bos_id:
        docs.append((fingerprint(carry[1:]), len(carry) - 1))
    return docs


def find_overlap(dataset_dir: str | Path, min_tokens: int = MIN_DOC_TOKENS) -> dict:
    bos_id = dataset_bos_id(dataset_dir)
    val = split_fingerprints(shard_files(dataset_dir, "val"), bos_id)
    wanted = {fp: i for i, (fp, n) in enumerate(val) if n >= min_tokens}
    hits: list[tuple[int, str, int]] = []
    carry = np.zeros(0, dtype=np.uint16)
    train_docs = 0
    for f in shard_files(dataset_dir, "train"):
        n = read_header(f)
        tokens = np.memmap(f, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(n,)) if n else np.zeros(0, np.uint16)
        found, carry = _doc_hashes(np.asarray(tokens), carry, bos_id)
        train_docs += len(found)
        hits.extend((wanted[fp], f.name, train_docs - len(found) + k) for k, (fp, _) in enumerate(found) if fp in wanted)
    if len(carry) > 1 and carry[0] == bos_id:
        train_docs += 1
        fp = fingerprint(carry[1:])
        if fp in wanted:
            hits.append((wanted[fp], "end of train", train_docs - 1))
    return {"val_docs": len(val), "val_docs_checked": len(wanted), "train_docs": train_docs,
            "overlapping": len({h[0] for h in hits}), "examples": hits[:5], "min_tokens": min_tokens}


def overlap_rule(data: str | Path | None) -> dict:
    from pgolf.data.paths import resolve_data

    name = "train_val_overlap"
    if data is None:
        return verdict(name, NA, "pass --data to fingerprint train documents against val documents")
    try:
        dataset_dir, _ = resolve_data(data)
        res = find_overlap(dataset_dir)
    except PgolfError as e:
        return verdict(name, NA, str(e))
    head = (f"{dataset_dir.name}: {res['val_docs_checked']:,} val documents (>= {res['min_tokens']} tokens) vs "
            f"{res['train_docs']:,} train documents")
    if res["overlapping"]:
        ex = ", ".join(f"val doc {v} = train doc {t} ({s})" for v, s, t in res["examples"][:3])
        return verdict(name, FAIL, f"{head}: {res['overlapping']} val document(s) also in train: {ex}", overlap=res)
    return verdict(name, PASS, f"{head}: no val document appears in train", overlap=res)
