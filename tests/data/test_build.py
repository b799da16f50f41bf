"""Building shards from documents: the mini mirror reproduced byte for byte; tokenizer training."""

from __future__ import annotations

import gzip
import json

import pytest

from pgolf.cli import main
from pgolf.data.build import build
from pgolf.data.docs import head, iter_docs
from pgolf.data.shards import read_shard
from pgolf.errors import PgolfError
from tests.conftest import MINI, MINI_DATASET, MINI_TOKENIZER

DOCS = MINI / "docs_selected.jsonl.xz"


def test_rebuild_reproduces_the_mirror_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "mini"
    assert main(["data", "build", "--docs", str(DOCS), "--tokenizer", str(MINI_TOKENIZER), "--val-docs", "901",
                 "--shard-size", "8000000", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    names = sorted(p.name for p in MINI_DATASET.glob("*.bin"))
    assert sorted(res["files"]) == names
    for name in names:
        assert (out / "datasets/fineweb10B_sp1024" / name).read_bytes() == (MINI_DATASET / name).read_bytes(), name
    ours = json.loads((out / "manifest.json").read_text())["datasets"][0]
    official = json.loads((MINI / "manifest.json").read_text())["datasets"][0]
    assert ours["stats"] == official["stats"]
    assert ours["files"] == official["files"]  # sha256 of every shard


def _write_docs(path, texts):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "source": "x"}) + "\n")


@pytest.mark.parametrize("suffix", [".jsonl", ".gz", ".zst"])
def test_train_a_tokenizer_and_build(tmp_path, suffix):
    texts = head(DOCS, 300)
    docs = tmp_path / f"docs{suffix}"
    if suffix == ".zst":
        import zstandard

        raw = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
        docs.write_bytes(zstandard.ZstdCompressor().compress(raw))
    else:
        _write_docs(docs, texts)
    res = build(docs, tmp_path / "out", vocab_size=512, val_docs=20, shard_size=50_000, workers=2, progress=False)
    assert res["tokenizer_trained"] and res["vocab_size"] == 512
    assert res["stats"]["docs_val"] == 20 and res["stats"]["docs_train"] == 280
    folder = tmp_path / "out/datasets/fineweb10B_sp512"
    val = read_shard(folder / "fineweb_val_000000.bin", vocab_size=512)
    assert (val == 1).sum() == 20 and val[0] == 1
    train = [read_shard(p, 512) for p in sorted(folder.glob("fineweb_train_*.bin"))]
    assert all(len(t) == 50_000 for t in train[:-1]) and len(train) > 1
    assert sum(int((t == 1).sum()) for t in train) == 280
    spec = json.loads((tmp_path / "out/manifest.json").read_text())["tokenizers"][0]["train_spec"]
    assert spec["byte_fallback"] and spec["split_digits"] and spec["normalization_rule_name"] == "nmt_nfkc"


def test_bad_inputs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"nope": 1}\n')
    with pytest.raises(PgolfError, match=r"bad.jsonl:2: JSON object has no \"text\" key"):
        list(iter_docs(bad))
    with pytest.raises(PgolfError, match="only 1 documents|only 2 documents|no train documents"):
        good = tmp_path / "good.jsonl"
        _write_docs(good, ["a b c", "d e f"])
        build(good, tmp_path / "o", tokenizer=MINI_TOKENIZER, val_docs=5, shard_size=100, progress=False)
    with pytest.raises(PgolfError, match="documents file not found"):
        build(tmp_path / "missing.jsonl", tmp_path / "o", tokenizer=MINI_TOKENIZER, val_docs=1, progress=False)
