"""Fetch the challenge's shards and tokenizer from the Hugging Face hub or a local mirror.

The hub keeps everything under a root folder (``datasets/``) of a dataset repo: the official
``willdepueoai/parameter-golf``, or any repo laid out like it (``kevclark/parameter-golf`` with
sp4096 / sp8192, ``romeerp/parameter-golf-caseops-v1`` with the records' CaseOps variant
``sp8192_lossless_caps_caseops_v1_reserved``)::

    manifest.json
    tokenizers/fineweb_1024_bpe.model
    datasets/fineweb10B_sp1024/fineweb_val_000000.bin, fineweb_train_000000.bin, ...
    datasets/fineweb10B_<variant>/fineweb_val_bytes_000000.bin   (a transform's byte sidecar)

Which files a variant has comes from its manifest entry: the ``files`` it lists (with sha256),
else the shard counts of its ``stats`` (as the official download script does; sidecars when the
entry names a ``val_bytes_glob``), else the repo's file listing. Byte sidecars are fetched beside
the val shards and checked to count the tokens of their shard; they are never val shards.

A mirror is a local folder with the same layout (the folder holding ``manifest.json``). The two
sources differ only in how one relative path becomes a local file (:class:`MirrorSource`,
:class:`HubSource`); listing, choosing, verifying and placing files is shared. Every file goes
to a temporary name beside its destination, is checked against the manifest's sha256, and only
then renamed, so a failed or corrupt transfer never leaves a file under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pgolf.data.shards import is_shard, read_header, shard_name
from pgolf.io import atomic_path, atomic_write
from pgolf.data.sidecar import check_pairs, is_sidecar, sidecar_name
from pgolf.errors import PgolfError

HUB_REPO = "willdepueoai/parameter-golf"
HUB_ROOT = "datasets"
MANIFEST = "manifest.json"
DATASET_PREFIX = "fineweb10B_"


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---- sources: one relative path -> one local file ----------------------------------------

class MirrorSource:
    """A local folder laid out like the hub's ``datasets/`` folder."""

    def __init__(self, root: str | Path):
        root = Path(root)
        if not (root / MANIFEST).is_file() and (root / HUB_ROOT / MANIFEST).is_file():
            root = root / HUB_ROOT  # accept the folder above, too
        if not (root / MANIFEST).is_file():
            raise PgolfError(f"{root}: not a hub mirror (no {MANIFEST})")
        self.root = root

    def __str__(self) -> str:
        return f"mirror {self.root}"

    def where(self, rel: str) -> str:
        return str(self.root / rel)

    def get(self, rel: str, tmp: Path) -> None:
        src = self.root / rel
        try:
            shutil.copyfile(src, tmp)
        except FileNotFoundError:
            raise PgolfError(f"{src}: not in the mirror") from None
        except OSError as e:
            raise PgolfError(f"{src}: cannot copy ({e.strerror})") from None

    def listing(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())


class HubSource:
    """The dataset repo on the Hugging Face hub (needs network; files pass through its cache)."""

    def __init__(self, repo_id: str = HUB_REPO, root: str = HUB_ROOT):
        self.repo_id, self.root = repo_id, root

    def __str__(self) -> str:
        return f"hub {self.repo_id}"

    def where(self, rel: str) -> str:
        return f"hub {self.repo_id}:{self.remote(rel)}"

    def remote(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    def get(self, rel: str, tmp: Path) -> None:
        from huggingface_hub import hf_hub_download

        try:
            cached = hf_hub_download(repo_id=self.repo_id, repo_type="dataset", filename=self.remote(rel))
            shutil.copyfile(cached, tmp)
        except Exception as e:  # network, auth, missing entry: all one line for the user
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise PgolfError(f"{self.where(rel)}: download failed ({first})") from None

    def listing(self) -> list[str]:
        from huggingface_hub import HfApi

        try:
            names = HfApi().list_repo_files(self.repo_id, repo_type="dataset")
        except Exception as e:
            raise PgolfError(f"hub {self.repo_id}: cannot list files ({e})") from None
        prefix = self.root + "/" if self.root else ""
        return sorted(n[len(prefix):] for n in names if n.startswith(prefix))


def make_source(mirror: str | Path | None, repo_id: str = HUB_REPO,
                root: str = HUB_ROOT) -> MirrorSource | HubSource:
    return MirrorSource(mirror) if mirror else HubSource(repo_id, root.strip("/"))


# ---- the manifest ------------------------------------------------------------------------

def variants(manifest: dict[str, Any]) -> list[str]:
    return [d.get("name", "").removeprefix(DATASET_PREFIX) for d in manifest.get("datasets", [])]


def find_dataset(manifest: dict[str, Any], variant: str) -> dict[str, Any]:
    name = DATASET_PREFIX + variant.removeprefix(DATASET_PREFIX)
    for d in manifest.get("datasets", []):
        if d.get("name") == name:
            return d
    known = ", ".join(variants(manifest)) or "none"
    raise PgolfError(f"unknown variant {variant!r}; the manifest has: {known}")


def find_tokenizer(manifest: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    want = dataset.get("tokenizer_name")
    for t in manifest.get("tokenizers", []):
        if t.get("name") == want and t.get("model_path"):
            return t
    raise PgolfError(f"manifest: no tokenizer entry {want!r} with a model_path for {dataset.get('name')}")


def dataset_path(dataset: dict[str, Any]) -> str:
    """The dataset's folder relative to the manifest, e.g. ``datasets/fineweb10B_sp1024``."""
    return (dataset.get("path") or f"datasets/{dataset.get('name')}").rstrip("/")


def dataset_files(dataset: dict[str, Any], listing) -> dict[str, str | None]:
    """{file name: sha256 or None}: the manifest's list, else its stats' counts, else the listing."""
    files = dataset.get("files")
    if isinstance(files, dict) and files:
        return dict(files)
    if isinstance(files, list) and files:
        return {name: None for name in files}
    stats = dataset.get("stats") or {}
    if isinstance(stats.get("files_val"), int) and isinstance(stats.get("files_train"), int):
        names = [shard_name("val", i) for i in range(stats["files_val"])]
        if dataset.get("val_bytes_glob") or stats.get("files_val_bytes"):
            names += [sidecar_name("val", i) for i in range(int(stats.get("files_val_bytes") or stats["files_val"]))]
        names += [shard_name("train", i) for i in range(stats["files_train"])]
        return {n: None for n in names}
    prefix = dataset_path(dataset) + "/"
    names = [p[len(prefix):] for p in listing() if p.startswith(prefix) and "/" not in p[len(prefix):]]
    return {n: None for n in names if n.endswith(".bin")}


def choose_shards(files: dict[str, str | None], train_shards: int) -> tuple[list[str], list[str], list[str]]:
    """All val shards, their byte sidecars, and the first ``train_shards`` train shards, by name."""
    val = sorted(n for n in files if is_shard(n, "val"))
    sidecars = sorted(n for n in files if is_sidecar(n, "val"))
    train = sorted(n for n in files if is_shard(n, "train"))
    if not val:
        raise PgolfError("manifest lists no fineweb_val_*.bin shards")
    if sidecars and len(sidecars) != len(val):
        raise PgolfError(f"manifest lists {len(sidecars)} byte sidecars for {len(val)} val shards")
    if train_shards < 0:
        raise PgolfError(f"--train-shards must be >= 0, got {train_shards}")
    if train_shards > len(train):
        raise PgolfError(f"asked for {train_shards} train shards; the source has {len(train)}")
    return val, sidecars, train[:train_shards]


# ---- placing one verified file ------------------------------------------------------------

def _verified(path: Path, sha: str | None) -> bool:
    """Is an existing file good? By sha256 when known; a shard's header and size otherwise."""
    if sha:
        return sha256_file(path) == sha
    if path.suffix == ".bin":
        try:
            read_header(path)
        except PgolfError:
            return False
    return True


def fetch_file(source, rel: str, final: Path, sha: str | None) -> str:
    """Place ``rel`` at ``final``; returns ``"skipped"`` (already there and good) or ``"fetched"``."""
    if final.is_file():
        if _verified(final, sha):
            return "skipped"
        final.unlink()  # stale or corrupt: never leave it under the final name
    with atomic_path(final) as tmp:
        source.get(rel, tmp)
        if sha:
            got = sha256_file(tmp)
            if got != sha:
                raise PgolfError(f"{source.where(rel)}: sha256 mismatch (got {got[:16]}..., manifest says "
                                 f"{sha[:16]}...); corrupt source file, nothing saved as {final}")
        elif final.suffix == ".bin":
            read_header(tmp)
    return "fetched"


def _read_manifest(source, dest: Path) -> dict[str, Any]:
    """Fetch and parse the manifest; always fresh (it is small and says what the rest should be)."""
    tmp = dest / f".{MANIFEST}.part{os.getpid()}"
    try:
        source.get(MANIFEST, tmp)
        try:
            manifest = json.loads(tmp.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PgolfError(f"{source.where(MANIFEST)}: not a valid manifest ({e})") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("datasets"), list):
            raise PgolfError(f"{source.where(MANIFEST)}: manifest has no \"datasets\" list")
        merged = merge_manifests(_local_manifest(dest / MANIFEST), manifest)
        if merged is manifest:
            os.replace(tmp, dest / MANIFEST)  # the source's bytes, unchanged
        else:
            atomic_write(dest / MANIFEST, (json.dumps(merged, indent=2) + "\n").encode())
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def _local_manifest(path: Path) -> dict[str, Any] | None:
    try:
        old = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return old if isinstance(old, dict) else None


def merge_manifests(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` (itself when nothing is kept), keeping the datasets and tokenizers of ``old`` that
    ``new`` does not name.

    So one folder can hold variants fetched from different repos (sp1024 from the official
    one, the CaseOps sp8192 from another) and every dataset still finds its tokenizer.
    """
    kept = {}
    for key in ("datasets", "tokenizers"):
        names = {e.get("name") for e in new.get(key, []) if isinstance(e, dict)}
        kept[key] = [e for e in (old or {}).get(key, []) if isinstance(e, dict) and e.get("name") not in names]
    if not any(kept.values()):
        return new
    return {**new, **{key: list(new.get(key, [])) + kept[key] for key in kept}}


# ---- the command ---------------------------------------------------------------------------

def fetch(variant: str = "sp1024", train_shards: int = 1, dest: str | Path = "data",
          mirror: str | Path | None = None, progress: bool = True, repo_id: str = HUB_REPO,
          root: str = HUB_ROOT) -> dict[str, Any]:
    """Fetch the manifest, tokenizer, all val shards (and their byte sidecars) and the first
    ``train_shards`` train shards, from ``mirror`` or else the hub repo ``repo_id`` under ``root``.

    Files land under ``dest`` in the hub's layout. Files already present whose sha256 matches
    are skipped; others are fetched again. Returns a summary dict.
    """
    dest = Path(dest)
    source = make_source(mirror, repo_id, root)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(source, dest)
    dataset = find_dataset(manifest, variant)
    tok = find_tokenizer(manifest, dataset)
    files = dataset_files(dataset, source.listing)
    val, sidecars, train = choose_shards(files, train_shards)

    ds_path = dataset_path(dataset)
    jobs = [(tok["model_path"], tok.get("sha256"))]
    jobs += [(f"{ds_path}/{name}", files[name]) for name in val + sidecars + train]

    from tqdm import tqdm

    counts = {"fetched": 0, "skipped": 0}
    total_bytes = 0
    bar = tqdm(jobs, desc=f"fetch {variant}", unit="file", disable=not (progress and sys.stderr.isatty()))
    for rel, sha in bar:
        bar.set_postfix_str(Path(rel).name)
        counts[fetch_file(source, rel, dest / rel, sha)] += 1
        total_bytes += (dest / rel).stat().st_size
    bar.close()
    if sidecars:
        check_pairs(dest / ds_path, "val")  # sidecar i counts the tokens of val shard i

    return {
        "source": str(source),
        "dest": str(dest),
        "variant": variant.removeprefix(DATASET_PREFIX),
        "data_path": str(dest / ds_path),
        "tokenizer_path": str(dest / tok["model_path"]),
        "text_transform": tok.get("text_transform"),
        "val_shards": val,
        "val_sidecars": sidecars,
        "train_shards": train,
        "fetched": counts["fetched"],
        "skipped": counts["skipped"],
        "bytes": total_bytes,
    }
