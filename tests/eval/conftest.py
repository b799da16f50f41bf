"""A tiny model trained for a few seconds on the mini train split, and a slice of the mini val."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import MINI_DATASET, MINI_TOKENIZER

VAL_TOKENS = 6000  # a slice of the mini val: enough documents, seconds to score


@pytest.fixture(scope="session")
def tiny_cfg():
    from pgolf.config import load_config

    return load_config("tiny", data_path=str(MINI_DATASET), tokenizer_path=str(MINI_TOKENIZER), device="cpu",
                       iterations=40, grad_accum_total=1, train_batch_tokens=1024, val_batch_size=2048)


@pytest.fixture(scope="session")
def tiny_model(tiny_cfg):
    """Trained enough that context helps (so sliding windows can beat non-overlapping ones)."""
    from pgolf.dist import DistContext
    from pgolf.train.trainer import Trainer

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the same weights on any machine; later tests get the threads back
    try:
        tr = Trainer(tiny_cfg, DistContext())
        for step in range(tiny_cfg.iterations):
            tr.step(step, 0.0)
    finally:
        torch.set_num_threads(before)
    return tr.model.eval()


@pytest.fixture(scope="session")
def val_slice() -> np.ndarray:
    from pgolf.data.shards import load_split

    return np.ascontiguousarray(load_split(MINI_DATASET, "val", 1024)[:VAL_TOKENS])


@pytest.fixture(scope="session")
def table():
    from pgolf.data.bytes import load_table

    return load_table(MINI_TOKENIZER)


@pytest.fixture(autouse=True)
def _one_thread_here(one_thread):
    """Every eval test on one torch thread: the same sums in this process and its children, and
    no thread contention on a loaded machine."""
    yield
