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
        description="Download the manifest, tokenizer, every val shard (with its byte sidecar, for a transform "
        "such as CaseOps) and the first N train shards of a variant from a hub dataset repo laid out like the "
        "official willdepueoai/parameter-golf, or copy them from a local folder with the same layout. Files are "
        "checked against the manifest's sha256 (a shard's header and size where it lists none) and renamed into "
        "place only when good; files already present and verified are skipped. The records of April 2026 train "
        "on romeerp/parameter-golf-caseops-v1 (CaseOps sp8192) or kevclark/parameter-golf (sp4096, sp8192).",
        epilog="examples:\n  pgolf data fetch --variant sp1024 --train-shards 10 --dest data\n"
        "  pgolf data fetch --repo romeerp/parameter-golf-caseops-v1 \\\n"
        "    --variant sp8192_lossless_caps_caseops_v1_reserved --train-shards 80 --dest data\n"
        "  pgolf data fetch --repo kevclark/parameter-golf --variant sp8192 --train-shards 128 --dest data\n"
        "  pgolf data fetch --mirror ../shared/fineweb-mini/datasets --train-shards 1 --dest data\n"
        "The official download script's MATCHED_FINEWEB_REPO_ID and MATCHED_FINEWEB_REMOTE_ROOT_PREFIX are "
        "read as --repo and --root.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--variant", default="sp1024",
                   help="dataset variant: the manifest's fineweb10B_<variant> (default: sp1024)")
    p.add_argument("--train-shards", type=int, default=1, help="how many train shards (default: 1)")
    p.add_argument("--dest", default="data", help="destination folder (default: data)")
    p.add_argument("--repo", help="hub dataset repo OWNER/NAME (default: $MATCHED_FINEWEB_REPO_ID, else "
                   "willdepueoai/parameter-golf)")
    p.add_argument("--root", help="the repo folder holding manifest.json (default: "
                   "$MATCHED_FINEWEB_REMOTE_ROOT_PREFIX, else datasets; '' for the repo's top)")
    p.add_argument("--mirror", help="local folder laid out like the hub (default: $PGOLF_HUB_MIRROR, else the hub)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_fetch)

    p = dsub.add_parser(
        "build", help="tokenize JSON-lines documents into shards (training a tokenizer if asked)",
        description="Every document becomes [BOS] + its tokens; the first --val-docs documents are the val "
        "split, the rest train; each split is cut into shards of --shard-size tokens, exactly as the "
        "official export. Without --tokenizer a SentencePiece BPE model of --vocab-size is trained on the "
        "train documents with the official settings. --val-docs defaults to docs_val of the documents' "
        "source manifest (docs_selected.source_manifest.json beside them), and a different count is refused: "
        "fifteen CaseOps submissions were excluded because their val count put val documents into train. "
        "Writes OUT/manifest.json (official schema, sha256 of every file), OUT/tokenizers/ and "
        "OUT/datasets/fineweb10B_sp<V>[_lossless_caps_caseops_v1_reserved]/. See docs/tokenizers.md.",
        epilog="example (reproduces the mini mirror's shards byte for byte):\n"
        "  pgolf data build --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz \\\n"
        "    --tokenizer ../shared/fineweb-mini/datasets/tokenizers/fineweb_1024_bpe.model \\\n"
        "    --shard-size 8000000 --out build/mini\n"
        "the records' CaseOps data with the record's tokenizer (reproduces ../shared/fineweb-mini-caseops):\n"
        "  pgolf data build --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz --max-docs 3500 \\\n"
        "    --transform caseops-v1 --tokenizer ../shared/fineweb-mini-caseops/datasets/tokenizers/"
        "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model \\\n"
        "    --shard-size 10000000 --out build/caseops\n"
        "train a CaseOps sp8192 tokenizer (operators reserved as user-defined pieces), then prove the build:\n"
        "  pgolf data build --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz \\\n"
        "    --vocab-size 8192 --transform caseops-v1 --out build/sp8192caseops\n"
        "  pgolf data prove build/sp8192caseops",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--docs", required=True, help="JSON lines with a \"text\" key; plain, .gz, .xz or .zst")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--tokenizer", help="an existing SentencePiece model to encode with")
    g.add_argument("--vocab-size", type=int, help="train a BPE tokenizer of this size first")
    p.add_argument("--val-docs", type=int,
                   help="the first N documents form the val split (default: docs_val of the source manifest)")
    p.add_argument("--allow-val-mismatch", action="store_true",
                   help="build even when --val-docs disagrees with the source manifest's docs_val")
    p.add_argument("--max-docs", type=int, help="only the first N documents (default: all)")
    p.add_argument("--shard-size", type=int, default=100_000_000, help="tokens per shard (default: 100,000,000)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, default=0, help="encoding processes (default: every core)")
    p.add_argument("--model-type", choices=["bpe", "unigram"], default="bpe",
                   help="tokenizer to train with --vocab-size (default: bpe; byte fallback always on)")
    p.add_argument("--transform", choices=["caseops-v1", "case"],
                   help="a lossless case transform, with a per-token byte sidecar fineweb_val_bytes_*.bin. "
                   "caseops-v1: CaseOps v1 (lossless_caps_caseops_v1), the transform the April 2026 records use "
                   "(lower-cased words with TITLE / ALLCAPS / CAPNEXT / ESC operators); case: our own, not "
                   "compatible with the records' data, fewer tokens per byte; see docs/tokenizers.md")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_build)

    p = dsub.add_parser(
        "prove", help="prove the val split decodes to its documents and counts their bytes exactly",
        description="For every val document: decode its tokens (inverting CaseOps v1 if the tokenizer "
        "reserves its operators), compare with the document's reference text, and check that the bytes charged to its "
        "targets (sidecar if present, else the official rule: exactly what eval charges) sum to the "
        "reference's UTF-8 length. The reference is the normalised text decode(encode(text)) for a "
        "normalising tokenizer such as the official sp1024 or the record's CaseOps sp8192, the raw text for a lossless pipeline; the report "
        "says which, and the total raw - normalised byte gap. Exits 1 on any mismatch and prints the first, "
        "naming the document and the first token charged the wrong bytes.",
        epilog="examples:\n  pgolf data prove ../shared/fineweb-mini/datasets\n"
        "  pgolf data prove ../shared/fineweb-mini-caseops/datasets \\\n"
        "    --docs ../shared/fineweb-mini/datasets/docs_selected.jsonl.xz\n"
        "  pgolf data prove build/sp8192caseops --json\n"
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
    from pgolf.cmdline import hub_location, hub_mirror
    from pgolf.data.fetch import HUB_REPO, HUB_ROOT, fetch

    env_repo, env_root = hub_location()
    root = args.root if args.root is not None else env_root if env_root is not None else HUB_ROOT
    res = fetch(variant=args.variant, train_shards=args.train_shards, dest=args.dest,
                mirror=args.mirror or hub_mirror(), progress=sys.stderr.isatty(),
                repo_id=args.repo or env_repo or HUB_REPO, root=root)
    sidecars = f" + {len(res['val_sidecars'])} byte sidecar" if res["val_sidecars"] else ""
    text = (f"{res['fetched']} fetched, {res['skipped']} already present and verified "
            f"({len(res['val_shards'])} val{sidecars} + {len(res['train_shards'])} train shards, "
            f"{res['bytes']:,} bytes) from {res['source']}\ndata: {res['data_path']}\n"
            f"tokenizer: {res['tokenizer_path']}"
            + (f" (text transform: {res['text_transform']})" if res["text_transform"] else ""))
    return _emit(res, args.json, text)


def run_build(args) -> int:
    from pgolf.data.build import build

    from pgolf.data.tokenizer import TrainSpec

    res = build(args.docs, args.out, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                val_docs=args.val_docs, shard_size=args.shard_size, workers=args.workers or None,
                progress=sys.stderr.isatty(), spec=TrainSpec(model_type=args.model_type),
                transform=args.transform, max_docs=args.max_docs,
                allow_val_mismatch=args.allow_val_mismatch)
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
