"""Bench tests run single-threaded: on a shared CPU, torch's spinning OpenMP threads make
tiny models tens of times slower, and the child processes of `bench proxy` inherit the setting."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)
