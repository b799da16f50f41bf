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
# A child process that runs longer than this has hung: a guard against hangs, never a speed test
# (tests must pass on a slow or busy machine).
HANG_TIMEOUT = 1800
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
def one_thread(monkeypatch):
    """One torch thread here and in child processes (OMP_NUM_THREADS=1, which they inherit).

    Float sums depend on how many threads split them: a test that compares a run in this
    process with one in a child, or two children, number for number needs both on one count,
    whatever an earlier test left this process's count at.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


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
def small_data(tmp_path_factory):
    """A short copy of the mini data (300k train tokens, the first 6,000 val tokens): runs whose
    own round-trip eval takes a fraction of a second. Returns (dataset folder, tokenizer)."""
    from pgolf.data.shards import read_shard, write_shard

    root = tmp_path_factory.mktemp("small_data")
    write_shard(root / "fineweb_train_000000.bin", read_shard(MINI_DATASET / "fineweb_train_000000.bin")[:300_000])
    write_shard(root / "fineweb_val_000000.bin", read_shard(MINI_DATASET / "fineweb_val_000000.bin")[:6_000])
    return root, MINI_TOKENIZER


@pytest.fixture(scope="session")
def lrzip() -> str:
    """The lrzip program (the ZPAQ codec). `.ci/run` installs it, so under CI its absence fails."""
    exe = shutil.which("lrzip")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("lrzip is not installed, and .ci/run should have installed it (apt-get install -y lrzip)")
        pytest.skip("the lrzip program is not installed here (apt-get install -y lrzip)")
    return exe
