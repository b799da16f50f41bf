"""Bench tests run single-threaded: on a shared CPU, torch's spinning OpenMP threads make
tiny models tens of times slower, and the child processes of `bench proxy` inherit the setting."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
