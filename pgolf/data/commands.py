"""`pgolf data fetch | build | inspect`."""

from __future__ import annotations

import argparse
import json
import sys


def _emit(res: dict, as_json: bool, text: str) -> int:
    print(json.dumps(res, sort_keys=True) if as_json else text)
    return 0


def register(sub) -> None:
    data = sub.add_parser(
        "data", help="fetch, build, inspect and prove token shards",
        description="Token shards in the challenge's format: fetch them from the hub (or a local mirror), "
        "build them from raw documents, or count what a folder holds.",
    )
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: data.print_help() or 2)

    p = dsub.add_parser(
        "fetch", help="download manifest, tokenizer and shards (hub or local mirror)",
        description="Download the manifest, tokenizer, every val shard and the first N train shards of a variant "
        "from the dataset repo willdepueoai/parameter-golf, or copy them from a local folder with the same "
        "layout. Files are checked against the manifest's sha256 and renamed into place only when good; "
        "files already present and verified are skipped.",
        epilog="examples:\n  pgolf data fetch --variant sp1024 --train-shards 10 --dest data\n"
        "  pgolf data fetch --mirror ../shared/fineweb-mini/datasets --train-shards 1 --dest data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--variant", default="sp1024", help="dataset variant, e.g. sp1024 (default: sp1024)")
    p.add_argument("--train-shards", type=int, default=1, help="how many train shards (default: 1)")
    p.add_argument("--dest", default="data", help="destination folder (default: data)")
    p.add_argument("--mirror", help="local folder laid out like the hub (default: $PGOLF_HUB_MIRROR, else the hub)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_fetch)

    p = dsub.add_parser(
        "build", help="tokenize JSON-lines documents into shards (training a tokenizer if asked)",
        description="Every document becomes [BOS] + its tokens; the first --val-docs documents are the val "
        "split, the rest train; each split is cut into shards of --shard-size tokens, exactly as the "
        "official export. Without --tokenizer a SentencePiece BPE model of --vocab-size is trained on the "
        "train documents with the official settings. Writes OUT/manifest.json (official schema, sha256 of "
        "every file), OUT/tokenizers/ and OUT/datasets/fineweb10B_sp<V>[_case]/. See docs/tokenizers.md.",
        epilog="example (reproduces the mini mirror's shards byte for byte):\n"
        "  pgolf data build --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz \\\n"
        "    --tokenizer ../shared/fineweb-mini/datasets/tokenizers/fineweb_1024_bpe.model \\\n"
        "    --val-docs 901 --shard-size 8000000 --out build/mini\n"
        "train sp8192 with the lossless case transform and a val byte sidecar, then prove it:\n"
        "  pgolf data build --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz \\\n"
        "    --vocab-size 8192 --transform case --val-docs 901 --shard-size 8000000 --out build/sp8192case\n"
        "  pgolf data prove build/sp8192case",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--docs", required=True, help="JSON lines with a \"text\" key; plain, .gz, .xz or .zst")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokenizer", help="an existing SentencePiece model to encode with")
    g.add_argument("--vocab-size", type=int, help="train a BPE tokenizer of this size first")
    p.add_argument("--val-docs", type=int, required=True, help="the first N documents form the val split")
    p.add_argument("--shard-size", type=int, default=100_000_000, help="tokens per shard (default: 100,000,000)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, default=0, help="encoding processes (default: every core)")
    p.add_argument("--model-type", choices=["bpe", "unigram"], default="bpe",
                   help="tokenizer to train with --vocab-size (default: bpe; byte fallback always on)")
    p.add_argument("--transform", choices=["case"],
                   help="case: the lossless case transform (lower-case text + operator pieces, identity "
                   "normalisation) with a per-token byte sidecar fineweb_val_bytes_*.bin; see docs/tokenizers.md")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_build)

    p = dsub.add_parser(
        "prove", help="prove the val split decodes to its documents and counts their bytes exactly",
        description="For every val document: decode its tokens (inverting the case transform if the tokenizer "
        "has one), compare with the document's reference text, and check that the bytes charged to its "
        "targets (sidecar if present, else the official rule: exactly what eval charges) sum to the "
        "reference's UTF-8 length. The reference is the normalised text decode(encode(text)) for a "
        "normalising tokenizer such as the official sp1024, the raw text for a lossless pipeline; the report "
        "says which, and the total raw - normalised byte gap. Exits 1 on any mismatch and prints the first.",
        epilog="examples:\n  pgolf data prove ../shared/fineweb-mini/datasets\n"
        "  pgolf data prove build/sp8192case --json\n"
        "  pgolf data prove data --tokenizer data/tokenizers/fineweb_1024_bpe.model --docs docs_selected.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", help="a fetch/build root or a folder of shards")
    p.add_argument("--tokenizer", help="SentencePiece model (default: from the manifest)")
    p.add_argument("--docs", help="the documents file the shards were built from (default: from the manifest)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_prove)

    p = dsub.add_parser(
        "inspect", help="count docs, tokens, scored targets and bytes per split",
        description="For val and train: documents (BOS count), tokens, target tokens (tokens - 1 per "
        "contiguous stream, as scored), bytes by the official byte rule, and tokens per byte.",
        epilog="example: pgolf data inspect data --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", help="a fetch/build root or a folder of shards")
    p.add_argument("--tokenizer", help="SentencePiece model (default: from the manifest)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_inspect)


def run_fetch(args) -> int:
    from pgolf.cli import hub_mirror
    from pgolf.data.fetch import fetch

    res = fetch(variant=args.variant, train_shards=args.train_shards, dest=args.dest,
                mirror=args.mirror or hub_mirror(), progress=sys.stderr.isatty())
    text = (f"{res['fetched']} fetched, {res['skipped']} already present and verified "
            f"({len(res['val_shards'])} val + {len(res['train_shards'])} train shards, {res['bytes']:,} bytes) "
            f"from {res['source']}\ndata: {res['data_path']}\ntokenizer: {res['tokenizer_path']}")
    return _emit(res, args.json, text)


def run_build(args) -> int:
    from pgolf.data.build import build

    from pgolf.data.tokenizer import TrainSpec

    res = build(args.docs, args.out, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                val_docs=args.val_docs, shard_size=args.shard_size, workers=args.workers or None,
                progress=sys.stderr.isatty(), spec=TrainSpec(model_type=args.model_type),
                transform=args.transform)
    s = res["stats"]
    text = (f"{s['docs_val']:,} val + {s['docs_train']:,} train docs -> {s['files_val']} val + "
            f"{s['files_train']} train shards ({s['tokens_val']:,} + {s['tokens_train']:,} tokens) "
            f"in {res['seconds']['encode']:.1f}s with {res['workers']} workers\n"
            f"data: {res['data_path']}\ntokenizer: {res['tokenizer_path']}"
            f"{' (trained)' if res['tokenizer_trained'] else ''}")
    return _emit(res, args.json, text)


def run_inspect(args) -> int:
    from pgolf.data.inspect import format_report, inspect

    res = inspect(args.data, args.tokenizer)
    return _emit(res, args.json, format_report(res))


def run_prove(args) -> int:
    from pgolf.data.prove import format_report, prove

    res = prove(args.data, tokenizer=args.tokenizer, docs=args.docs, progress=sys.stderr.isatty())
    _emit(res, args.json, format_report(res))
    return 0 if res["ok"] else 1
