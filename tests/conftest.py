"""Shared fixtures: the mini data mirror that sits beside the checkout (../shared/fineweb-mini)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MINI = (REPO / ".." / "shared" / "fineweb-mini" / "datasets").resolve()
MINI_DATASET = MINI / "datasets" / "fineweb10B_sp1024"
MINI_TOKENIZER = MINI / "tokenizers" / "fineweb_1024_bpe.model"
# the record's CaseOps sp8192 data, small (../shared/fineweb-mini-caseops/README.md)
MINI_CASEOPS = (REPO / ".." / "shared" / "fineweb-mini-caseops" / "datasets").resolve()
MINI_CASEOPS_DATASET = MINI_CASEOPS / "datasets" / "fineweb10B_sp8192_lossless_caps_caseops_v1_reserved"
MINI_CASEOPS_TOKENIZER = MINI_CASEOPS / "tokenizers" / "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"


@pytest.fixture(scope="session")
def mini() -> Path:
    """The hub-layout mirror root: manifest.json, tokenizers/, datasets/fineweb10B_sp1024/."""
    assert MINI.is_dir(), f"the mini data mirror is missing at {MINI}"
    return MINI


@pytest.fixture()
def tiny_overrides(tmp_path) -> list[str]:
    """key=value overrides that point the tiny preset at the mirror and a temp run folder."""
    return [f"data_path={MINI_DATASET}", f"tokenizer_path={MINI_TOKENIZER}", f"out_dir={tmp_path / 'runs'}"]


@pytest.fixture(scope="session")
def reference_root(tmp_path_factory) -> Path:
    """The official repository archive (../shared/reference), unpacked once per session."""
    from tests import reference

    if not reference._ROOT:
        reference.set_root(reference.loader().extract(tmp_path_factory.mktemp("reference")))
    return reference.root()


@pytest.fixture(scope="session")
def record_script(reference_root):
    """The 1.0611 record's train_gpt.py imported on CPU (see tests/reference.py)."""
    from tests import reference

    return reference.record_script()


@pytest.fixture(scope="session")
def baseline_script(reference_root):
    """The official naive baseline train_gpt.py imported on CPU."""
    from tests import reference

    return reference.baseline_script()
