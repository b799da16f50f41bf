"""The records' CaseOps data: the mini mirror rebuilt byte for byte, proved, and broken sidecars caught."""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch

import numpy as np
import pytest

from pgolf.cli import main
from pgolf.data import caseops
from pgolf.data.build import build
from pgolf.data.docs import head
from pgolf.data.prove import prove
from pgolf.data.shards import BOS_ID, read_shard, write_shard
from pgolf.data.tokenizer import proto_fields
from pgolf.errors import PgolfError
from tests.conftest import MINI

DOCS = MINI / "docs_selected.jsonl.xz"
CASEOPS = (MINI / ".." / ".." / "fineweb-mini-caseops" / "datasets").resolve()
VARIANT = "sp8192_lossless_caps_caseops_v1_reserved"
FOLDER = f"datasets/fineweb10B_{VARIANT}"
TOKENIZER = CASEOPS / "tokenizers" / "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"
FILES = ("fineweb_val_000000.bin", "fineweb_val_bytes_000000.bin", "fineweb_train_000000.bin")
SIDECAR = CASEOPS / FOLDER / "fineweb_val_bytes_000000.bin"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """`pgolf data build` of the mirror: the first 3,500 documents, val count from the source manifest."""
    assert CASEOPS.is_dir(), f"the CaseOps mini mirror is missing at {CASEOPS}"
    out = tmp_path_factory.mktemp("caseops")
    argv = ["data", "build", "--docs", str(DOCS), "--max-docs", "3500", "--transform", "caseops-v1",
            "--tokenizer", str(TOKENIZER), "--shard-size", "10000000", "--workers", "2", "--out", str(out), "--json"]
    assert main(argv) == 0
    return out


def test_rebuild_reproduces_the_caseops_mirror_byte_for_byte(rebuilt):
    for name in FILES:
        assert (rebuilt / FOLDER / name).read_bytes() == (CASEOPS / FOLDER / name).read_bytes(), name
    ours = json.loads((rebuilt / "manifest.json").read_text())
    theirs = json.loads((CASEOPS / "manifest.json").read_text())
    ds, want = ours["datasets"][0], theirs["datasets"][0]
    assert ds["name"] == want["name"] and ds["files"] == want["files"]
    assert {k: ds["stats"][k] for k in want["stats"]} == want["stats"]
    for key in ("val_glob", "val_bytes_glob", "train_glob"):  # each glob picks the same files
        assert [n for n in FILES if fnmatch(f"{FOLDER}/{n}", ds[key])] == [n for n in FILES if fnmatch(f"{FOLDER}/{n}", want[key])]
    assert [n for n in FILES if fnmatch(n, "*" + ds["val_glob"].rsplit("/", 1)[1])] == [FILES[0]]
    assert ours["tokenizers"][0]["text_transform"] == theirs["tokenizers"][0]["text_transform"] == caseops.NAME


def test_prove_passes_on_the_mirror_and_on_the_rebuild(rebuilt, capsys):
    assert main(["data", "prove", str(CASEOPS), "--docs", str(DOCS), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] and res["transform"] == "caseops-v1" and res["byte_source"] == "sidecar"
    assert res["docs"] == 901 and res["target_tokens"] == 808_616
    assert res["bytes_counted"] == res["bytes_reference"] == res["bytes_raw"] == 2_504_310
    assert res["tokens_per_byte"] == pytest.approx(808_616 / 2_504_310, abs=1e-6)
    again = prove(rebuilt)  # the build's manifest names its documents
    assert again["ok"] and again["bytes_counted"] == 2_504_310


KEEP = 60  # the broken copies keep the mirror's first 60 val documents (fast, still real)


def _val():
    """The first ``KEEP`` val documents of the mirror: tokens and sidecar."""
    tokens = read_shard(CASEOPS / FOLDER / "fineweb_val_000000.bin")
    end = int(np.flatnonzero(tokens == BOS_ID)[KEEP])
    return tokens[:end], read_shard(SIDECAR)[:end].copy()


def _broken(tmp_path, side: np.ndarray | None):
    """The mirror's first val documents with the sidecar ``side`` (None: no sidecar at all)."""
    root = tmp_path / "broken"
    for rel in ("manifest.json", f"tokenizers/{TOKENIZER.name}"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CASEOPS / rel, root / rel)
    tokens, honest = _val()
    write_shard(root / FOLDER / "fineweb_val_000000.bin", tokens)
    if side is not None:
        write_shard(root / FOLDER / SIDECAR.name, side)
    assert side is None or prove(_honest(root, honest), docs=DOCS)["ok"]
    return root


def _honest(root, side):
    """The same copy with the mirror's own sidecar, beside it (the control)."""
    good = root.parent / "honest"
    shutil.copytree(root, good, dirs_exist_ok=True)
    write_shard(good / FOLDER / SIDECAR.name, side)
    return good


def test_prove_names_the_document_and_token_of_one_changed_count(tmp_path, capsys):
    tokens, side = _val()
    pos = int(np.flatnonzero(tokens == BOS_ID)[5]) + 7  # document 5, its 7th token
    side[pos] += 1
    root = _broken(tmp_path, side)
    res = prove(root, docs=DOCS)
    assert not res["ok"] and res["mismatches"] == 1
    first = res["first_mismatch"]
    assert (first["doc"], first["token"], first["position"], first["kind"]) == (5, 7, pos, "bytes")
    assert first["token_bytes_counted"] == first["token_bytes_true"] + 1
    assert main(["data", "prove", str(root), "--docs", str(DOCS)]) == 1
    assert f"document 5, token 7 (val position {pos:,}" in capsys.readouterr().out


def test_prove_fails_a_sidecar_that_counts_operators_as_bytes(tmp_path):
    tokens, side = _val()
    from pgolf.data.bytes import load_sentencepiece

    sp = load_sentencepiece(TOKENIZER)
    ops = np.isin(tokens, [sp.PieceToId(op) for op in caseops.OPERATORS])
    assert ops.any() and (side[ops] == 0).all()
    side[ops] = 3  # the UTF-8 length of a private-use character
    res = prove(_broken(tmp_path, side), docs=DOCS)
    assert not res["ok"] and res["bytes_counted"] > res["bytes_reference"]
    first = res["first_mismatch"]
    assert first["piece"] in caseops.OPERATORS and (first["token_bytes_counted"], first["token_bytes_true"]) == (3, 0)


def test_prove_fails_a_sidecar_shifted_by_a_token(tmp_path):
    tokens, side = _val()
    res = prove(_broken(tmp_path, np.concatenate(([0], side[:-1]))), docs=DOCS)
    assert not res["ok"] and res["mismatches"] > 0
    first = res["first_mismatch"]
    assert first["kind"] == "bytes" and first["doc"] == 0 and first["token_bytes_counted"] != first["token_bytes_true"]


def test_prove_fails_caseops_shards_without_a_sidecar(tmp_path):
    """Without the sidecar the official rule charges every operator its 3 UTF-8 bytes."""
    res = prove(_broken(tmp_path, None), docs=DOCS)
    assert not res["ok"] and res["byte_source"] == "official rule"
    assert res["first_mismatch"]["piece"] in caseops.OPERATORS


def _fields(model) -> tuple[dict, dict, list]:
    """(trainer spec, normaliser spec, the first 8 pieces as (text, type)) of a model file."""
    trainer, normalizer, pieces = {}, {}, []
    for num, value in proto_fields(model.read_bytes()):
        if num == 2:
            for k, v in proto_fields(value):
                trainer.setdefault(k, []).append(v)
        elif num == 3:
            normalizer = dict(proto_fields(value))
        elif num == 1 and len(pieces) < 8:
            p = dict(proto_fields(value))
            pieces.append((p[1].decode(), p.get(3, 1)))
    return trainer, normalizer, pieces


def _small_docs(tmp_path, n, val=None):
    path = tmp_path / "docs_selected.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in head(DOCS, n)), encoding="utf-8")
    if val is not None:
        (tmp_path / "docs_selected.source_manifest.json").write_text(json.dumps({"num_docs": n, "docs_val": val}))
    return path


def test_trained_tokenizer_reserves_the_operators_like_the_records(tmp_path, reference_root):
    docs = _small_docs(tmp_path, 400, val=40)
    res = build(docs, tmp_path / "out", vocab_size=600, transform="caseops-v1", shard_size=10**6, workers=1,
                progress=False)
    model = tmp_path / "out" / "tokenizers" / "fineweb_600_bpe_lossless_caps_caseops_v1_reserved.model"
    assert res["tokenizer_path"] == str(model) and res["stats"]["docs_val"] == 40
    ours, theirs = _fields(model), _fields(TOKENIZER)
    assert ours[2] == theirs[2]  # pad, bos, eos, unk, then TITLE / ALLCAPS / CAPNEXT / ESC as user-defined
    assert [p for p, _ in ours[2][4:]] == list(caseops.OPERATORS) and {t for _, t in ours[2][4:]} == {4}
    # the trainer settings that decide the model, field by field (model_type, coverage, split_digits,
    # user_defined_symbols, hard_vocab_limit, byte_fallback, ids); not the prefix, size or threads
    for field in (3, 10, 25, 31, 33, 35, 40, 41, 42, 43):
        assert ours[0].get(field) == theirs[0].get(field), field
    assert ours[1].get(1) == theirs[1].get(1) == b"nmt_nfkc" and ours[1].get(3) == theirs[1].get(3) == 0
    assert prove(tmp_path / "out")["ok"]


def test_val_count_that_disagrees_with_the_source_manifest_is_refused(tmp_path, capsys):
    docs = _small_docs(tmp_path, 60, val=40)
    argv = ["data", "build", "--docs", str(docs), "--tokenizer", str(TOKENIZER), "--transform", "caseops-v1",
            "--out", str(tmp_path / "o"), "--workers", "1"]
    assert main(argv + ["--val-docs", "30"]) == 2
    err = capsys.readouterr().err
    assert "--val-docs 30 disagrees with docs_selected.source_manifest.json (docs_val 40)" in err
    assert "val documents would land in train" in err and not (tmp_path / "o" / "manifest.json").exists()
    assert main(argv + ["--val-docs", "30", "--allow-val-mismatch", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["docs_val"] == 30
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(PgolfError, match="no docs_selected.source_manifest.json with docs_val beside it"):
        build(_small_docs(bare, 60), tmp_path / "o2", tokenizer=TOKENIZER, progress=False)


def test_check_data_finds_train_val_overlap_in_caseops_shards(tmp_path):
    from pgolf.referee.check import check_folder
    from tests.referee.kit import make_record

    docs = _small_docs(tmp_path, 80, val=40)
    common = dict(tokenizer=TOKENIZER, transform="caseops-v1", shard_size=10**6, workers=1, progress=False)
    honest = build(docs, tmp_path / "honest", **common)
    leaky = build(docs, tmp_path / "leaky", val_docs=30, allow_val_mismatch=True, **common)
    # the official val split beside a train split cut with 30 val documents: docs 30..39 leak
    shutil.copyfile(f"{honest['data_path']}/fineweb_train_000000.bin", tmp_path / "t.bin")
    shutil.copyfile(f"{leaky['data_path']}/fineweb_train_000000.bin", f"{honest['data_path']}/fineweb_train_000000.bin")
    folder = make_record(tmp_path / "rec")
    rep = check_folder(folder, data=str(tmp_path / "honest"))
    rule = next(v for v in rep["rules"] if v["rule"] == "train_val_overlap")
    assert rule["status"] == "fail" and rule["numbers"]["overlap"]["overlapping"] == 10, rule
    shutil.copyfile(tmp_path / "t.bin", f"{honest['data_path']}/fineweb_train_000000.bin")
    rep = check_folder(folder, data=str(tmp_path / "honest"))
    rule = next(v for v in rep["rules"] if v["rule"] == "train_val_overlap")
    assert rule["status"] == "pass" and rule["numbers"]["overlap"]["val_docs"] == 40, rule
