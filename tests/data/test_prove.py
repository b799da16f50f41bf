"""`pgolf data prove` and retokenized builds: passes on honest data, fails on broken byte tables."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pgolf.cli import main
from pgolf.data import case
from pgolf.data.build import build
from pgolf.data.bytes import load_sentencepiece, load_table, stream_target_bytes
from pgolf.data.docs import head
from pgolf.data.inspect import inspect
from pgolf.data.prove import prove
from pgolf.data.shards import load_split, write_shard
from pgolf.data.sidecar import load_sidecar, sidecar_name, target_bytes_for
from pgolf.data.tokenizer import TrainSpec
from tests.conftest import MINI, MINI_DATASET, MINI_TOKENIZER

DOCS = MINI / "docs_selected.jsonl.xz"
VAL = 40
MARK = "Zqxjvw"  # a word planted in the val documents only


def _write(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Raw train documents (newlines, whitespace runs) plus adversarial ones; val docs carry MARK."""
    texts = head(DOCS, 1200)[901:]  # raw train text: the normaliser changes many of these
    texts[3] = "Title Case, ALL CAPS, iPhone, ÉCOLE Ⱥb 😀 \ue000\ue003▁ literal operators\n\n  spaced  "
    texts[5] = ""
    for i in range(VAL):
        texts[i] = f"{MARK} {MARK.upper()} " * 30 + texts[i]
    return _write(tmp_path_factory.mktemp("corpus") / "docs.jsonl", texts), texts


@pytest.fixture(scope="module")
def case_build(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("case")
    return build(corpus[0], out, vocab_size=512, val_docs=VAL, shard_size=40_000, workers=2,
                 progress=False, transform="case")


def _decoded_docs(tokens, sp, transform=False):
    cuts = np.flatnonzero(tokens == 1).tolist() + [len(tokens)]
    texts = [sp.decode(tokens[a + 1:b].tolist()) for a, b in zip(cuts, cuts[1:])]
    return [case.decode(t) for t in texts] if transform else texts


def test_case_build_proves_and_carries_a_sidecar(case_build, corpus):
    folder = case_build["data_path"]
    res = prove(case_build["out"])
    assert res["ok"], res["first_mismatch"]
    assert res["reference"] == "raw" and res["transform"] == "case" and res["byte_source"] == "sidecar"
    assert res["docs"] == VAL and res["mismatches"] == 0
    raw = sum(len(t.encode("utf-8")) for t in corpus[1][:VAL])
    assert res["bytes_counted"] == res["bytes_reference"] == res["bytes_raw"] == raw
    tokens = load_split(folder, "val")
    side = load_sidecar(folder, "val")
    assert len(side) == len(tokens) and side[0] == 0
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=case_build["tokenizer_path"])
    ops = np.isin(tokens, [sp.PieceToId(o) for o in case.OPERATORS])
    assert ops.any() and (side[ops] == 0).all() and (side[tokens == 1] == 0).all()
    # eval's one code path takes the sidecar here
    table = load_table(case_build["tokenizer_path"])
    assert np.array_equal(target_bytes_for(folder, "val", tokens, table), side[1:])
    official = target_bytes_for(None, "val", tokens, table)  # no data folder: the official rule
    assert int(official.sum()) > raw  # it would charge the operators
    report = inspect(case_build["out"])
    assert report["val"]["bytes"] == raw and report["val"]["byte_source"] == "sidecar"


def test_operator_symbols_counted_as_source_bytes_fail(case_build):
    official = load_table(case_build["tokenizer_path"])  # counts each operator as its 3 UTF-8 bytes
    res = prove(case_build["out"], byte_table=official)
    assert not res["ok"] and res["mismatches"] > 0
    first = res["first_mismatch"]
    ops = sum(first["piece"].count(op) for op in case.OPERATORS)  # an operator, or a piece merging one
    assert first["kind"] == "bytes" and ops >= 1
    assert first["token_bytes_counted"] - first["token_bytes_true"] == 3 * ops
    assert res["bytes_counted"] > res["bytes_reference"]


def test_retokenized_val_never_reaches_train(case_build, corpus):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=case_build["tokenizer_path"])
    texts = corpus[1]
    train = _decoded_docs(load_split(case_build["data_path"], "train"), sp, transform=True)
    val = _decoded_docs(load_split(case_build["data_path"], "val"), sp, transform=True)
    assert val == texts[:VAL] and train == texts[VAL:]
    assert not any(MARK.lower() in t.lower() for t in train)
    # the tokenizer was trained on train documents only: the val-only word left no piece behind
    assert not any(MARK.lower()[:4] in sp.IdToPiece(i) for i in range(sp.GetPieceSize()))


def test_normalising_tokenizer_reference_and_gap(corpus, tmp_path):
    out = tmp_path / "sp1024"
    build(corpus[0], out, tokenizer=MINI_TOKENIZER, val_docs=VAL, shard_size=10**6, workers=1, progress=False)
    res = prove(out)
    assert res["ok"], res["first_mismatch"]
    assert res["reference"] == "normalised" and res["byte_source"] == "official rule"
    assert res["bytes_raw"] > res["bytes_reference"] == res["bytes_counted"]
    assert res["normalisation_gap_bytes"] == res["bytes_raw"] - res["bytes_reference"] > 0


def test_unigram_build_proves(corpus, tmp_path):
    res = build(corpus[0], tmp_path / "uni", vocab_size=512, val_docs=VAL, shard_size=10**6, workers=1,
                progress=False, spec=TrainSpec(model_type="unigram"))
    assert res["tokenizer_path"].endswith("fineweb_512_unigram.model")
    assert prove(tmp_path / "uni")["ok"]


def _broken(table, **arrays):
    return dataclasses.replace(table, **{k: v(table) for k, v in arrays.items()})


def test_official_mini_val_proves():
    res = prove(MINI)
    assert res["ok"] and res["docs"] == 901 and res["reference"] == "normalised"
    assert res["bytes_counted"] == res["bytes_reference"] == 2_504_310


@pytest.mark.parametrize("name", ["space_twice", "byte_fallback_3"])
def test_broken_tables_fail_on_the_mini_val(name):
    table = load_table(MINI_TOKENIZER)
    if name == "space_twice":  # the ▁ counted inside the piece and again by the rule
        bad = _broken(table, base=lambda t: t.base + t.leading_space.astype(np.int32))
    else:  # a byte-fallback piece counted as U+FFFD's 3 bytes
        sp = load_sentencepiece(MINI_TOKENIZER)
        is_byte = np.array([sp.IsByte(i) for i in range(sp.GetPieceSize())])
        bad = _broken(table, base=lambda t: np.where(is_byte, 3, t.base).astype(np.int32))
        tokens = load_split(MINI_DATASET, "val")
        assert is_byte[tokens].any()  # the val split does use byte fallback
    assert not np.array_equal(stream_target_bytes(np.arange(1024), bad), stream_target_bytes(np.arange(1024), table))
    res = prove(MINI, byte_table=bad)
    assert not res["ok"] and res["mismatches"] > 0 and res["bytes_counted"] > res["bytes_reference"]
    first = res["first_mismatch"]
    assert first["kind"] == "bytes" and first["token_bytes_counted"] > first["token_bytes_true"]
    if name == "space_twice":
        assert first["piece"].startswith("\u2581")
    else:
        assert first["piece"].startswith("<0x")


def test_cli_exit_codes(case_build, tmp_path, capsys):
    assert main(["data", "prove", case_build["out"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    wrong = _write(tmp_path / "wrong.jsonl", ["not the document"] * VAL)
    assert main(["data", "prove", case_build["out"], "--docs", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and '"kind": "text"' in out
    assert main(["data", "prove", str(tmp_path / "nowhere")]) == 2
    assert "pgolf: error:" in capsys.readouterr().err


def test_training_and_eval_charge_the_sidecar(case_build, corpus, tmp_path):
    """The one byte path: the training log's score and `pgolf eval` both charge the original bytes."""
    from pgolf.config import load_config
    from pgolf.eval.evaluate import evaluate_artifact
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    folder, keep = tmp_path / "data", 4  # the first 4 val documents keep it fast
    folder.mkdir()
    tokens, side = load_split(case_build["data_path"], "val"), load_sidecar(case_build["data_path"], "val")
    end = int(np.flatnonzero(tokens == 1)[keep])
    write_shard(folder / "fineweb_val_000000.bin", tokens[:end])
    write_shard(folder / sidecar_name("val", 0), side[:end])
    write_shard(folder / "fineweb_train_000000.bin", load_split(case_build["data_path"], "train")[:20_000])
    cfg = load_config("tiny", vocab_size=512, iterations=2, data_path=str(folder),
                      tokenizer_path=case_build["tokenizer_path"], out_dir=str(tmp_path), run_id="case")
    summary = train_and_export(cfg, {}, packed_code, progress=False, echo=False)
    raw = sum(len(t.encode("utf-8")) for t in corpus[1][:keep])
    assert summary["bytes"] == raw
    res = evaluate_artifact(summary["artifact"], device="cpu")
    assert res["bytes"] == raw and res["val_bpb"] == pytest.approx(summary["val_bpb"], rel=1e-6)
