"""Shared fixtures: the mini data mirror that sits beside the checkout (../shared/fineweb-mini)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MINI = (REPO / ".." / "shared" / "fineweb-mini" / "datasets").resolve()
MINI_DATASET = MINI / "datasets" / "fineweb10B_sp1024"
MINI_TOKENIZER = MINI / "tokenizers" / "fineweb_1024_bpe.model"


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


@pytest.fixture(scope="session")
def lrzip() -> str:
    """The lrzip program (the ZPAQ codec). `.ci/run` installs it, so under CI its absence fails."""
    exe = shutil.which("lrzip")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("lrzip is not installed, and .ci/run should have installed it (apt-get install -y lrzip)")
        pytest.skip("the lrzip program is not installed here (apt-get install -y lrzip)")
    return exe
