"""Finding a dataset folder and its tokenizer from what a user typed.

Accepts either a folder of shards (``.../datasets/fineweb10B_sp1024``) or a fetch/build root
holding ``manifest.json``, ``datasets/`` and ``tokenizers/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pgolf.data.tokenizer import BOS_ID
from pgolf.errors import PgolfError


def _manifest_root(dataset_dir: Path) -> Path | None:
    for cand in (dataset_dir, dataset_dir.parent, dataset_dir.parent.parent):
        if (cand / "manifest.json").is_file():
            return cand
    return None


def read_manifest(dataset_dir: str | Path) -> tuple[Path | None, dict]:
    """(root, manifest) of the fetch/build root holding ``dataset_dir``; (None, {}) if there is none."""
    root = _manifest_root(Path(dataset_dir))
    if root is None:
        return None, {}
    try:
        return root, json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PgolfError(f"{root / 'manifest.json'}: cannot read ({e})") from None


def dataset_bos_id(dataset_dir: str | Path, default: int = BOS_ID) -> int:
    """The BOS id of a dataset folder: its manifest entry's ``bos_id``, else ``default`` (the tokenizer's)."""
    _, manifest = read_manifest(dataset_dir)
    ds = next((d for d in manifest.get("datasets", []) if d.get("name") == Path(dataset_dir).name), {})
    return int(ds.get("bos_id", default))


def check_bos_id(dataset_dir: str | Path, bos_id: int) -> None:
    """One-line error when the dataset's manifest records a BOS id other than ``bos_id`` (the config's)."""
    found = dataset_bos_id(dataset_dir, bos_id)
    if found != bos_id:
        raise PgolfError(f"bos_id={bos_id}, but the manifest of {dataset_dir} says its documents start with {found}")


def resolve_data(path: str | Path, vocab_size: int | None = None) -> tuple[Path, Path | None]:
    """(dataset folder with the shards, tokenizer model or None if it cannot be found)."""
    path = Path(path)
    if not path.exists():
        raise PgolfError(f"{path}: no such data folder (run `pgolf data fetch` first)")
    if any(path.glob("fineweb_*_*.bin")):
        dataset_dir = path
    else:
        found = sorted(path.glob("datasets/fineweb10B_*"))
        if vocab_size is not None:
            # fineweb10B_sp8192 and its variants (fineweb10B_sp8192_case), never fineweb10B_sp81920
            found = [d for d in found if f"_sp{vocab_size}_" in d.name + "_"] or found
        if not found:
            raise PgolfError(f"{path}: neither shards nor a datasets/fineweb10B_* folder here")
        dataset_dir = found[0]
    root, manifest = read_manifest(dataset_dir)
    tokenizer = None
    if root is not None:
        ds = next((d for d in manifest.get("datasets", []) if d.get("name") == dataset_dir.name), None)
        tok = next((t for t in manifest.get("tokenizers", []) if ds and t.get("name") == ds.get("tokenizer_name")), None)
        if tok and (root / tok["model_path"]).is_file():
            tokenizer = root / tok["model_path"]
    if tokenizer is None:
        models = sorted((dataset_dir.parent.parent / "tokenizers").glob("*.model"))
        tokenizer = models[0] if len(models) == 1 else None
    return dataset_dir, tokenizer
