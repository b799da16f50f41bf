"""`pgolf data prove`: show that the val split decodes to its documents and counts their bytes exactly.

For every val document (the stream cut at its BOS tokens, in order, against the first documents
of the docs file):

1. decode its tokens (and invert the text transform, CaseOps v1 or ``case``, when the tokenizer
   holds its operators) and compare the text with the REFERENCE text of that document;
2. sum the bytes charged to its targets (the BOS that opens it, counting 0, and its tokens) and
   compare with the UTF-8 length of the reference text.

The reference depends on the tokenizer. A normalising tokenizer (the official sp1024 and the
record's CaseOps sp8192: NFKC, runs of whitespace and newlines become one space) is charged for
the NORMALISED text, which is ``decode(encode(text))`` (through the transform and back for
CaseOps); a lossless tokenizer (identity normalisation, as ``case`` builds) for the RAW text. The report names the
reference and the total gap between raw and normalised bytes.

Bytes come from :func:`pgolf.data.sidecar.target_bytes_for` (the sidecar when the split has one,
the official rule otherwise), exactly as eval counts them, or from a ``byte_table`` given by the
caller (tests pass deliberately broken tables). A failing document is reported with the first
token whose charged bytes differ from its true bytes (the official rule for a plain tokenizer,
the sidecar a build writes for a transform).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pgolf.data import tokenizer as tok
from pgolf.data import transforms
from pgolf.data.bytes import ByteTable, load_table, stream_target_bytes
from pgolf.data.docs import iter_docs
from pgolf.data.paths import dataset_bos_id, read_manifest, resolve_data
from pgolf.data.shards import load_split
from pgolf.data.sidecar import doc_sidecar, load_sidecar, piece_text, target_bytes_for
from pgolf.errors import PgolfError

SNIPPET = 40
BATCH_DOCS = 128  # documents encoded / decoded per SentencePiece call


def normalizer(sp) -> dict[str, Any]:
    """The model's normaliser settings (name, add_dummy_prefix, remove_extra_whitespaces)."""
    spec = {"name": "", "add_dummy_prefix": True, "remove_extra_whitespaces": True}
    try:
        for num, value in tok.proto_fields(sp.serialized_model_proto()):
            if num == 3 and isinstance(value, bytes):  # ModelProto.normalizer_spec
                for sub, v in tok.proto_fields(value):
                    if sub == 1 and isinstance(v, bytes):
                        spec["name"] = v.decode("utf-8", "replace")
                    elif sub == 3 and isinstance(v, int):
                        spec["add_dummy_prefix"] = bool(v)
                    elif sub == 4 and isinstance(v, int):
                        spec["remove_extra_whitespaces"] = bool(v)
    except ValueError:
        pass
    return spec


def is_lossless(sp) -> bool:
    """Does ``decode(encode(text)) == text`` hold by construction (no normalisation at all)?"""
    n = normalizer(sp)
    return n["name"] == "identity" and not n["add_dummy_prefix"] and not n["remove_extra_whitespaces"]


def default_docs(dataset_dir: Path) -> Path | None:
    """The docs file the manifest names (its recorded path, or its name beside the manifest)."""
    root, manifest = read_manifest(dataset_dir)
    cands = []
    if manifest.get("docs_path"):
        cands.append(Path(manifest["docs_path"]))
    if root is not None and manifest.get("docs_jsonl"):
        name = manifest["docs_jsonl"]
        cands += [root / name] + [root / (name + s) for s in (".xz", ".gz", ".zst")]
    return next((c for c in cands if c.is_file()), None)


def _first_diff(a: str, b: str) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class _Truth:
    """Each token's true bytes: the official rule, or what a CaseOps build writes in its sidecar."""

    def __init__(self, sp, model: Path, tokens: np.ndarray, transform):
        self.sp, self.transform = sp, transform
        if transform is None:
            self.stream = stream_target_bytes(tokens, load_table(model)).astype(np.int64)
        else:
            self.pieces = piece_text(sp)

    def doc(self, s: int, e: int, ids: list[int]) -> np.ndarray:
        """True bytes of ``[BOS] + ids`` (stream positions ``s`` .. ``e - 1``)."""
        if self.transform is None:
            own = self.stream[s:e - 1]  # the targets tokens[s + 1 .. e - 1]
            return np.concatenate(([0], own))
        text = self.sp.decode(ids)
        return doc_sidecar(self.sp, self.pieces, text, ids, text, self.transform.byte_weights).astype(np.int64)


def _describe(i: int, s: int, kind: str, ids: list[int], counted: np.ndarray, true: np.ndarray | None,
              got: str, ref: str, sp, bos_id: int, detail: str = "") -> dict[str, Any]:
    """The first mismatch: document ``i`` (stream position ``s``), with its text and first bad token.

    ``counted`` / ``true``: the bytes of ``[BOS] + ids``; token 0 is the document's BOS.
    """
    k = _first_diff(got, ref)
    out: dict[str, Any] = {
        "doc": i, "kind": kind, "tokens": len(ids),
        "bytes_counted": int(counted.sum()), "bytes_reference": len(ref.encode("utf-8")),
        "char": k if got != ref else None,
        "expected": ref[max(0, k - SNIPPET // 2):k + SNIPPET // 2] if got != ref else None,
        "got": got[max(0, k - SNIPPET // 2):k + SNIPPET // 2] if got != ref else None,
    }
    if detail:
        out["detail"] = detail
    if kind == "bytes" and true is not None and len(true) == len(counted):
        bad = np.flatnonzero(counted != true)
        if len(bad):
            j = int(bad[0])
            tid = bos_id if j == 0 else int(ids[j - 1])
            out.update(token=j, position=s + j, token_id=tid, piece=sp.IdToPiece(tid),
                       token_bytes_counted=int(counted[j]), token_bytes_true=int(true[j]))
    return out


def _documents(docs_path: Path, spans: list[tuple[int, int]], tokens: np.ndarray, sp, transform,
               lossless: bool) -> Iterator[tuple[str, str, str, str] | None]:
    """(raw, reference, decoded text, decode error) per val document; None past the docs file's end.

    SentencePiece runs ``BATCH_DOCS`` documents at a time. The reference is the raw text where
    the tokenizer is lossless or the tokens spell the raw text (through the transform) exactly;
    otherwise the normalised text, encoded and decoded again.
    """
    texts = iter_docs(docs_path, stop=len(spans))
    for k in range(0, len(spans), BATCH_DOCS):
        part = spans[k:k + BATCH_DOCS]
        raws = [t for _, t in zip(part, texts)]
        decoded = sp.decode([tokens[s + 1:e].tolist() for s, e in part])
        sources = [transform.encode(r) for r in raws] if transform is not None else raws
        redo = [] if lossless else [j for j, (d, t) in enumerate(zip(decoded, sources)) if d != t]
        normalised = dict(zip(redo, sp.decode(sp.encode([sources[j] for j in redo])))) if redo else {}
        for j, text in enumerate(decoded):
            if j >= len(raws):
                yield None
                continue
            ref, got, err = raws[j], text, ""
            if transform is not None:
                try:
                    got = transform.decode(text)
                except transform.error as e:
                    err = str(e)
            if j in normalised:
                ref = normalised[j]
                if transform is not None:
                    try:
                        ref = transform.decode(ref)
                    except transform.error:
                        pass  # normalisation broke an operator: the text check reports it
            yield raws[j], ref, got, err


def prove(data: str | Path, tokenizer: str | Path | None = None, docs: str | Path | None = None,
          byte_table: ByteTable | None = None, progress: bool = False) -> dict[str, Any]:
    """Decode and byte-count every val document; ``ok`` is True only when all of them match."""
    from tqdm import tqdm

    dataset_dir, found_tok = resolve_data(data)
    model = Path(tokenizer) if tokenizer else found_tok
    if model is None:
        raise PgolfError(f"{data}: cannot find the tokenizer (no manifest entry); pass --tokenizer MODEL")
    docs_path = Path(docs) if docs else default_docs(dataset_dir)
    if docs_path is None:
        raise PgolfError(f"{data}: the manifest names no documents file here; pass --docs DOCS.jsonl")
    sp = tok.load(model)
    transform = transforms.detect(sp)
    lossless = is_lossless(sp)
    tokens = load_split(dataset_dir, "val", sp.GetPieceSize())
    bos_id = dataset_bos_id(dataset_dir)
    if not len(tokens) or tokens[0] != bos_id:
        raise PgolfError(f"{dataset_dir}: the val stream does not start with BOS ({bos_id})")
    if byte_table is not None:
        tb, source = stream_target_bytes(tokens, byte_table).astype(np.int64), "given table"
    else:
        source = "sidecar" if load_sidecar(dataset_dir, "val") is not None else "official rule"
        tb = target_bytes_for(dataset_dir, "val", tokens, load_table(model)).astype(np.int64)
    tb = np.concatenate(([0], tb))  # tb[p]: bytes charged to stream position p (the first BOS: none)
    truth = _Truth(sp, model, tokens, transform)

    starts = np.flatnonzero(tokens == bos_id)
    ends = np.append(starts[1:], len(tokens))
    n_docs = len(starts)
    counted = ref_total = raw_total = mismatches = 0
    first: dict[str, Any] | None = None
    spans = list(zip(starts.tolist(), ends.tolist()))
    bar = tqdm(total=n_docs, desc="prove", unit="doc", disable=not progress)
    for i, ((s, e), doc) in enumerate(zip(spans, _documents(docs_path, spans, tokens, sp, transform, lossless))):
        doc_tb = tb[s:e]  # the BOS opening the document, then its tokens
        counted += int(doc_tb.sum())
        if doc is None:
            mismatches += 1
            first = first or {"doc": i, "kind": "missing", "detail": f"{docs_path} has only {i} documents"}
            continue
        raw, ref, got, detail = doc
        raw_total += len(raw.encode("utf-8"))
        ref_total += len(ref.encode("utf-8"))
        kind = "decode" if detail else ""
        if not kind and got != ref:
            kind = "text"
        elif not kind and int(doc_tb.sum()) != len(ref.encode("utf-8")):
            kind = "bytes"
        if kind:
            mismatches += 1
            if first is None:
                ids = tokens[s + 1:e].tolist()
                true = truth.doc(s, e, ids) if kind == "bytes" else None
                first = _describe(i, s, kind, ids, doc_tb, true, got, ref, sp, bos_id, detail)
        bar.update(1)
    bar.close()
    return {
        "ok": mismatches == 0,
        "reference": "raw" if lossless else "normalised",
        "transform": transform.name if transform is not None else None,
        "byte_source": source,
        "docs": n_docs,
        "mismatches": mismatches,
        "first_mismatch": first,
        "target_tokens": len(tokens) - 1,
        "bytes_counted": counted,
        "bytes_reference": ref_total,
        "bytes_raw": raw_total,
        "normalisation_gap_bytes": raw_total - ref_total,
        "tokens_per_byte": round((len(tokens) - 1) / ref_total, 6) if ref_total else None,
        "data_path": str(dataset_dir),
        "tokenizer": str(model),
        "docs_path": str(docs_path),
    }


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"data:      {r['data_path']}",
        f"tokenizer: {r['tokenizer']}" + (f" (transform: {r['transform']})" if r["transform"] else ""),
        f"docs:      {r['docs_path']}",
        f"reference: {r['reference']} text; bytes from the {r['byte_source']}",
        f"{r['docs']:,} val docs, {r['target_tokens']:,} target tokens, {r['tokens_per_byte']} tokens/byte",
        f"bytes counted {r['bytes_counted']:,}, reference {r['bytes_reference']:,}, raw {r['bytes_raw']:,} "
        f"(raw - normalised = {r['normalisation_gap_bytes']:,})",
    ]
    if r["ok"]:
        lines.append("PROVED: every val document decodes to its reference text and its bytes add up")
    else:
        lines.append(f"FAILED: {r['mismatches']:,} of {r['docs']:,} documents mismatch; first:")
        first = r["first_mismatch"]
        if "token" in first:
            lines.append(f"  document {first['doc']}, token {first['token']} (val position {first['position']:,}, "
                         f"piece {first['piece']!r}): {first['token_bytes_counted']} bytes charged, "
                         f"{first['token_bytes_true']} true")
        lines.append("  " + json.dumps(first, ensure_ascii=False))
    return "\n".join(lines)
