"""Fetching from a mirror (the mini data) and, with the download faked, from the hub: the official
repo and repos laid out like it (sp4096 / sp8192, CaseOps with its byte sidecar)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pgolf.cli import main
from pgolf.data import fetch as fetch_mod
from pgolf.data.fetch import fetch, sha256_file
from pgolf.data.inspect import inspect
from pgolf.data.shards import read_shard, write_shard
from pgolf.errors import PgolfError
from tests.conftest import MINI

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


# ---- community repos laid out like the official one, the hub faked -------------------------

CASEOPS = MINI.parent.parent / "fineweb-mini-caseops" / "datasets"
CASEOPS_VARIANT = "sp8192_lossless_caps_caseops_v1_reserved"


def _fake_hub(monkeypatch, repos: dict):
    """Serve ``hf_hub_download`` from local folders, one per repo id; record every call."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, repo_type=None, **kw):
        calls.append((repo_id, repo_type, filename))
        path = repos[repo_id] / filename
        if not path.is_file():
            raise FileNotFoundError(f"404: {repo_id}/{filename}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    return calls


def _shard(path, n_docs, seed):
    rng = np.random.default_rng(seed)
    docs = [np.concatenate(([1], rng.integers(4, 4000, size=int(rng.integers(20, 60))))) for _ in range(n_docs)]
    write_shard(path, np.concatenate(docs))


def _kevclark_like(root):
    """Two variants, sp4096 and sp8192; a manifest without file lists (shard counts in stats),
    as the official export writes it."""
    manifest = {"version": "x", "tokenizers": [], "datasets": []}
    for v, n_train in ((4096, 3), (8192, 2)):
        name = f"fineweb10B_sp{v}"
        _shard(root / f"datasets/{name}/fineweb_val_000000.bin", 5, v)
        for i in range(n_train):
            _shard(root / f"datasets/{name}/fineweb_train_{i:06d}.bin", 8, v + i + 1)
        model = root / f"tokenizers/fineweb_{v}_bpe.model"
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(f"model {v}".encode())
        manifest["tokenizers"].append({"name": f"sp_bpe_{v}", "kind": "sentencepiece", "vocab_size": v,
                                       "model_path": f"tokenizers/fineweb_{v}_bpe.model"})
        manifest["datasets"].append({"name": name, "tokenizer_name": f"sp_bpe_{v}", "path": f"datasets/{name}",
                                     "stats": {"files_val": 1, "files_train": n_train}})
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _romeerp_like(root, files=True):
    """The CaseOps mini mirror's val shard, sidecar and tokenizer; a small fake train shard.
    ``files=False``: the manifest names no files, only counts and the sidecar glob."""
    folder = f"datasets/fineweb10B_{CASEOPS_VARIANT}"
    manifest = json.loads((CASEOPS / "manifest.json").read_text())
    ds = manifest["datasets"][0]
    for rel in (f"{folder}/fineweb_val_000000.bin", f"{folder}/fineweb_val_bytes_000000.bin",
                manifest["tokenizers"][0]["model_path"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CASEOPS / rel, root / rel)
    _shard(root / f"{folder}/fineweb_train_000000.bin", 10, 7)
    ds["files"]["fineweb_train_000000.bin"] = sha256_file(root / f"{folder}/fineweb_train_000000.bin")
    if not files:
        del ds["files"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_fetch_a_kevclark_like_repo_named_by_the_official_env(tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    _kevclark_like(hub / "datasets")
    calls = _fake_hub(monkeypatch, {"kevclark/parameter-golf": hub})
    monkeypatch.setenv("MATCHED_FINEWEB_REPO_ID", "kevclark/parameter-golf")
    dest = tmp_path / "data"
    assert main(["data", "fetch", "--variant", "sp8192", "--train-shards", "2", "--dest", str(dest), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["source"] == "hub kevclark/parameter-golf" and res["val_sidecars"] == []
    assert res["val_shards"] == ["fineweb_val_000000.bin"]
    assert res["train_shards"] == ["fineweb_train_000000.bin", "fineweb_train_000001.bin"]
    for name in res["val_shards"] + res["train_shards"]:
        rel = f"datasets/fineweb10B_sp8192/{name}"
        assert (dest / rel).read_bytes() == (hub / "datasets" / rel).read_bytes()
    assert {c[2] for c in calls} >= {"datasets/manifest.json", "datasets/tokenizers/fineweb_8192_bpe.model"}
    assert not (dest / "datasets/fineweb10B_sp4096").exists()
    assert main(["data", "fetch", "--variant", "sp4096", "--train-shards", "4", "--dest", str(dest)]) == 2
    assert "asked for 4 train shards; the source has 3" in capsys.readouterr().err


@pytest.mark.parametrize("files", [True, False], ids=["file-list", "counts-only"])
def test_fetch_the_caseops_repo_counts_the_sidecar_as_a_sidecar(tmp_path, monkeypatch, files):
    hub = tmp_path / "hub"
    _romeerp_like(hub / "datasets", files=files)
    calls = _fake_hub(monkeypatch, {"romeerp/parameter-golf-caseops-v1": hub})
    dest = tmp_path / "data"
    res = fetch(variant=CASEOPS_VARIANT, train_shards=1, dest=dest, progress=False,
                repo_id="romeerp/parameter-golf-caseops-v1", root="datasets")
    assert res["val_shards"] == ["fineweb_val_000000.bin"]  # not the sidecar too
    assert res["val_sidecars"] == ["fineweb_val_bytes_000000.bin"]
    assert res["text_transform"] == "lossless_caps_caseops_v1" and res["fetched"] == 4
    assert all(c[0] == "romeerp/parameter-golf-caseops-v1" for c in calls)
    report = inspect(dest / f"datasets/fineweb10B_{CASEOPS_VARIANT}")
    assert report["val"]["shards"] == 1 and report["val"]["bytes"] == 2_504_310
    assert report["val"]["byte_source"] == "sidecar"


def test_a_sidecar_that_does_not_count_its_shard_is_refused(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    _romeerp_like(hub / "datasets", files=False)
    side = hub / f"datasets/datasets/fineweb10B_{CASEOPS_VARIANT}/fineweb_val_bytes_000000.bin"
    write_shard(side, read_shard(side)[:-1])
    _fake_hub(monkeypatch, {"romeerp/parameter-golf-caseops-v1": hub})
    with pytest.raises(PgolfError, match="808,616 entries for the 808,617 tokens of fineweb_val_000000.bin"):
        fetch(variant=CASEOPS_VARIANT, train_shards=0, dest=tmp_path / "data", progress=False,
              repo_id="romeerp/parameter-golf-caseops-v1")


def test_the_remote_root_from_the_official_env(tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    _kevclark_like(hub / "export_50B")
    calls = _fake_hub(monkeypatch, {"someone/golf": hub})
    monkeypatch.setenv("MATCHED_FINEWEB_REPO_ID", "someone/golf")
    monkeypatch.setenv("MATCHED_FINEWEB_REMOTE_ROOT_PREFIX", "export_50B")
    assert main(["data", "fetch", "--variant", "sp4096", "--train-shards", "0", "--dest", str(tmp_path / "d")]) == 0
    assert "1 val + 0 train shards" in capsys.readouterr().out
    assert all(c[2].startswith("export_50B/") for c in calls)
    # --repo / --root on the line win over the environment
    _kevclark_like(hub)
    before = len(calls)
    assert main(["data", "fetch", "--repo", "someone/golf", "--root", "", "--variant", "sp4096",
                 "--train-shards", "0", "--dest", str(tmp_path / "e")]) == 0
    assert [c[2] for c in calls[before:]] == ["manifest.json", "tokenizers/fineweb_4096_bpe.model",
                                              "datasets/fineweb10B_sp4096/fineweb_val_000000.bin"]


def test_one_folder_keeps_the_variants_of_two_repos(tmp_path, monkeypatch, mini):
    hub = tmp_path / "hub"
    _romeerp_like(hub / "datasets")
    _fake_hub(monkeypatch, {"romeerp/parameter-golf-caseops-v1": hub})
    dest = tmp_path / "data"
    fetch(train_shards=0, dest=dest, mirror=mini, progress=False)
    fetch(variant=CASEOPS_VARIANT, train_shards=0, dest=dest, progress=False, repo_id="romeerp/parameter-golf-caseops-v1")
    names = [d["name"] for d in json.loads((dest / "manifest.json").read_text())["datasets"]]
    assert sorted(names) == ["fineweb10B_sp1024", f"fineweb10B_{CASEOPS_VARIANT}"]
    assert inspect(dest / "datasets/fineweb10B_sp1024")["tokenizer"].endswith("fineweb_1024_bpe.model")
