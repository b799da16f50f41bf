"""One source for the BOS id: the tokenizer's, carried by the config and the data's manifest."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from pgolf.cli import main
from pgolf.config import Config
from pgolf.data.paths import check_bos_id, dataset_bos_id
from pgolf.data.tokenizer import BOS_ID
from pgolf.errors import PgolfError

PKG = Path(__file__).resolve().parents[2] / "pgolf"
# A BOS id written as a number: `bos_id: int = 1`, `bos_id=1` (a default, a keyword).
LITERAL = re.compile(r"\bbos_id\s*(:\s*int\s*)?=\s*\d")


def _defines_bos(path: Path) -> bool:
    """Whether a module assigns a BOS constant (``BOS = ...``, ``BOS_ID = ...``, in a tuple too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names = t.elts if isinstance(t, ast.Tuple) else [t]
                if any(isinstance(n, ast.Name) and n.id in ("BOS", "BOS_ID") for n in names):
                    return True
    return False


def _dataset(root: Path, bos_id: int | None) -> Path:
    ds = root / "datasets" / "fineweb10B_sp1024"
    ds.mkdir(parents=True)
    entry = {"name": ds.name} if bos_id is None else {"name": ds.name, "bos_id": bos_id}
    (root / "manifest.json").write_text(json.dumps({"datasets": [entry]}))
    return ds


def test_the_id_is_written_down_once_and_the_config_carries_it():
    files = sorted(PKG.rglob("*.py"))
    assert [str(p.relative_to(PKG)) for p in files if _defines_bos(p)] == ["data/tokenizer.py"]
    assert [str(p.relative_to(PKG)) for p in files if LITERAL.search(p.read_text())] == ["config.py"]  # its field
    assert Config().bos_id == BOS_ID


def test_a_dataset_takes_its_manifest_id_and_else_the_tokenizers(tmp_path):
    assert dataset_bos_id(_dataset(tmp_path / "a", 7)) == 7
    assert dataset_bos_id(_dataset(tmp_path / "b", None)) == BOS_ID
    assert dataset_bos_id(tmp_path) == BOS_ID  # no manifest at all
    check_bos_id(tmp_path / "a" / "datasets" / "fineweb10B_sp1024", 7)
    with pytest.raises(PgolfError, match="bos_id=1, but the manifest of .* says its documents start with 7"):
        check_bos_id(tmp_path / "a" / "datasets" / "fineweb10B_sp1024", 1)


def test_training_refuses_data_whose_manifest_disagrees_before_any_run_folder(tmp_path, capsys):
    ds = _dataset(tmp_path, 7)
    runs = tmp_path / "runs"
    assert main(["train", "--preset", "tiny", f"data_path={ds}", f"out_dir={runs}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf: error: bos_id=1, but the manifest of") and err.count("\n") == 1
    assert not runs.exists()
