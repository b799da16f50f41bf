"""Pack tests compare a run in this process with the packed file's run in a child process number
for number, so every one of them runs on one thread, here and in the children (``one_thread``)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
