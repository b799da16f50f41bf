"""The 46 accepted record folders of the official archive, checked once per session."""

from __future__ import annotations

import pytest

RECORDS = "records/track_10min_16mb"


@pytest.fixture(scope="session")
def real_records(reference_root):
    return reference_root / RECORDS


@pytest.fixture(scope="session")
def real_reports(real_records) -> dict[str, dict]:
    """`pgolf check` (no reference, no data) on every folder, by folder name."""
    from pgolf.referee.check import check_folder

    return {p.name: check_folder(p) for p in sorted(real_records.iterdir()) if p.is_dir()}


@pytest.fixture(scope="session")
def real_rows(real_records) -> list[dict]:
    from pgolf.referee.leaderboard import collect

    return collect(real_records)
