"""Fetching from a mirror (the mini data) and, with the download faked, from the hub."""

from __future__ import annotations

import json
import shutil

import pytest

from pgolf.cli import main
from pgolf.data import fetch as fetch_mod
from pgolf.data.fetch import fetch, sha256_file
from pgolf.errors import PgolfError

VAL = "datasets/fineweb10B_sp1024/fineweb_val_000000.bin"
TRAIN0 = "datasets/fineweb10B_sp1024/fineweb_train_000000.bin"
TRAIN1 = "datasets/fineweb10B_sp1024/fineweb_train_000001.bin"
TOK = "tokenizers/fineweb_1024_bpe.model"


def _small_mirror(mini, root):
    """A copy of the mirror's manifest, tokenizer and val shard, and a fake small train shard."""
    for rel in ("manifest.json", TOK, VAL):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mini / rel, root / rel)
    manifest = json.loads((root / "manifest.json").read_text())
    files = manifest["datasets"][0]["files"]
    for rel in (TRAIN0, TRAIN1):
        shutil.copyfile(root / VAL, root / rel)  # same bytes, so the manifest must be updated
        files[rel.rsplit("/", 1)[1]] = sha256_file(root / rel)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_fetch_from_the_mini_mirror_then_skip(tmp_path, mini):
    dest = tmp_path / "data"
    res = fetch(train_shards=1, dest=dest, mirror=mini, progress=False)
    assert res["fetched"] == 3 and res["skipped"] == 0
    assert res["train_shards"] == ["fineweb_train_000000.bin"]
    for rel in ("manifest.json", TOK, VAL, TRAIN0):
        assert (dest / rel).read_bytes() == (mini / rel).read_bytes()
    assert not (dest / TRAIN1).exists()
    again = fetch(train_shards=1, dest=dest, mirror=mini, progress=False)
    assert again["fetched"] == 0 and again["skipped"] == 3


def test_corrupted_mirror_file_fails_and_leaves_nothing(tmp_path, mini):
    src = _small_mirror(mini, tmp_path / "mirror")
    raw = bytearray((src / TRAIN0).read_bytes())
    raw[5000] ^= 0xFF
    (src / TRAIN0).write_bytes(bytes(raw))
    dest = tmp_path / "data"
    with pytest.raises(PgolfError, match="sha256 mismatch"):
        fetch(train_shards=1, dest=dest, mirror=src, progress=False)
    folder = dest / "datasets/fineweb10B_sp1024"
    assert not (dest / TRAIN0).exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temp file was left behind"


def test_a_corrupted_local_copy_is_fetched_again(tmp_path, mini):
    src = _small_mirror(mini, tmp_path / "mirror")
    dest = tmp_path / "data"
    fetch(train_shards=2, dest=dest, mirror=src, progress=False)
    (dest / TRAIN1).write_bytes(b"garbage")
    res = fetch(train_shards=2, dest=dest, mirror=src, progress=False)
    assert res["fetched"] == 1 and res["skipped"] == 3
    assert (dest / TRAIN1).read_bytes() == (src / TRAIN1).read_bytes()


def test_fetch_from_the_hub_uses_hf_hub_download(tmp_path, mini, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, repo_type=None, **kw):
        calls.append((repo_id, repo_type, filename))
        assert filename.startswith("datasets/")
        return str(mini / filename.removeprefix("datasets/"))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    res = fetch(train_shards=2, dest=tmp_path / "data", mirror=None, progress=False)
    assert res["fetched"] == 4 and res["source"] == "hub willdepueoai/parameter-golf"
    assert {c[:2] for c in calls} == {("willdepueoai/parameter-golf", "dataset")}
    assert ("datasets/" + TRAIN1) in {c[2] for c in calls}


def test_errors_are_one_line(tmp_path, mini, capsys):
    assert main(["data", "fetch", "--mirror", str(mini), "--variant", "sp4096", "--dest", str(tmp_path)]) == 2
    assert "unknown variant 'sp4096'; the manifest has: sp1024" in capsys.readouterr().err
    assert main(["data", "fetch", "--mirror", str(mini), "--train-shards", "9", "--dest", str(tmp_path)]) == 2
    assert "asked for 9 train shards; the source has 2" in capsys.readouterr().err
    assert main(["data", "fetch", "--mirror", str(tmp_path / "nowhere"), "--dest", str(tmp_path)]) == 2
    assert "not a hub mirror" in capsys.readouterr().err


def test_env_mirror_and_json(tmp_path, mini, capsys, monkeypatch):
    monkeypatch.setenv("PGOLF_HUB_MIRROR", str(mini))
    assert main(["data", "fetch", "--train-shards", "0", "--dest", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["val_shards"] == ["fineweb_val_000000.bin"] and res["train_shards"] == []
    assert fetch_mod.sha256_file(tmp_path / VAL) == sha256_file(mini / VAL)
