"""A small copy of the mini data (short train and val shards) so packed runs take seconds.

Pack tests compare a run in this process with the packed file's run in a child process number
for number, so every one of them runs on one thread, here and in the children (``one_thread``).
"""

from __future__ import annotations

import pytest

from pgolf.data.shards import read_shard, write_shard
from tests.conftest import MINI_DATASET, MINI_TOKENIZER


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_data")
    write_shard(root / "fineweb_train_000000.bin", read_shard(MINI_DATASET / "fineweb_train_000000.bin")[:300_000])
    write_shard(root / "fineweb_val_000000.bin", read_shard(MINI_DATASET / "fineweb_val_000000.bin")[:6_000])
    return root, MINI_TOKENIZER
