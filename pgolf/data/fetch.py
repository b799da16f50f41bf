"""Fetch the challenge's shards and tokenizer from the Hugging Face hub or a local mirror.

The hub keeps everything under the folder ``datasets/`` of the dataset repo
``willdepueoai/parameter-golf``::

    manifest.json
    tokenizers/fineweb_1024_bpe.model
    datasets/fineweb10B_sp1024/fineweb_val_000000.bin, fineweb_train_000000.bin, ...

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

from pgolf.data.shards import read_header
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
        return f"hub {self.repo_id}:{self.root}/{rel}"

    def get(self, rel: str, tmp: Path) -> None:
        from huggingface_hub import hf_hub_download

        try:
            cached = hf_hub_download(repo_id=self.repo_id, repo_type="dataset", filename=f"{self.root}/{rel}")
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
        prefix = self.root + "/"
        return sorted(n[len(prefix):] for n in names if n.startswith(prefix))


def make_source(mirror: str | Path | None, repo_id: str = HUB_REPO) -> MirrorSource | HubSource:
    return MirrorSource(mirror) if mirror else HubSource(repo_id)


# ---- the manifest ------------------------------------------------------------------------

def variants(manifest: dict[str, Any]) -> list[str]:
    return [d.get("name", "").removeprefix(DATASET_PREFIX) for d in manifest.get("datasets", [])]


def find_dataset(manifest: dict[str, Any], variant: str) -> dict[str, Any]:
    name = DATASET_PREFIX + variant
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
    """{shard name: sha256 or None}: the manifest's list, else the source's listing."""
    files = dataset.get("files")
    if isinstance(files, dict) and files:
        return dict(files)
    if isinstance(files, list) and files:
        return {name: None for name in files}
    prefix = dataset_path(dataset) + "/"
    names = [p[len(prefix):] for p in listing() if p.startswith(prefix) and "/" not in p[len(prefix):]]
    return {n: None for n in names if n.endswith(".bin")}


def choose_shards(files: dict[str, str | None], train_shards: int) -> tuple[list[str], list[str]]:
    """All val shards and the first ``train_shards`` train shards, by name order."""
    val = sorted(n for n in files if n.startswith("fineweb_val_"))
    train = sorted(n for n in files if n.startswith("fineweb_train_"))
    if not val:
        raise PgolfError("manifest lists no fineweb_val_*.bin shards")
    if train_shards < 0:
        raise PgolfError(f"--train-shards must be >= 0, got {train_shards}")
    if train_shards > len(train):
        raise PgolfError(f"asked for {train_shards} train shards; the source has {len(train)}")
    return val, train[:train_shards]


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
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.part{os.getpid()}")
    try:
        source.get(rel, tmp)
        if sha:
            got = sha256_file(tmp)
            if got != sha:
                raise PgolfError(f"{source.where(rel)}: sha256 mismatch (got {got[:16]}..., manifest says "
                                 f"{sha[:16]}...); corrupt source file, nothing saved as {final}")
        elif final.suffix == ".bin":
            read_header(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
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
        os.replace(tmp, dest / MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


# ---- the command ---------------------------------------------------------------------------

def fetch(variant: str = "sp1024", train_shards: int = 1, dest: str | Path = "data",
          mirror: str | Path | None = None, progress: bool = True, repo_id: str = HUB_REPO) -> dict[str, Any]:
    """Fetch the manifest, tokenizer, all val shards and the first ``train_shards`` train shards.

    Files land under ``dest`` in the hub's layout. Files already present whose sha256 matches
    are skipped; others are fetched again. Returns a summary dict.
    """
    dest = Path(dest)
    source = make_source(mirror, repo_id)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(source, dest)
    dataset = find_dataset(manifest, variant)
    tok = find_tokenizer(manifest, dataset)
    files = dataset_files(dataset, source.listing)
    val, train = choose_shards(files, train_shards)

    ds_path = dataset_path(dataset)
    jobs = [(tok["model_path"], tok.get("sha256"))]
    jobs += [(f"{ds_path}/{name}", files[name]) for name in val + train]

    from tqdm import tqdm

    counts = {"fetched": 0, "skipped": 0}
    total_bytes = 0
    bar = tqdm(jobs, desc=f"fetch {variant}", unit="file", disable=not (progress and sys.stderr.isatty()))
    for rel, sha in bar:
        bar.set_postfix_str(Path(rel).name)
        counts[fetch_file(source, rel, dest / rel, sha)] += 1
        total_bytes += (dest / rel).stat().st_size
    bar.close()

    return {
        "source": str(source),
        "dest": str(dest),
        "variant": variant,
        "data_path": str(dest / ds_path),
        "tokenizer_path": str(dest / tok["model_path"]),
        "val_shards": val,
        "train_shards": train,
        "fetched": counts["fetched"],
        "skipped": counts["skipped"],
        "bytes": total_bytes,
    }
