"""Window plans: every target scored exactly once, context within the window and the segment."""

import numpy as np
import pytest

from pgolf.errors import PgolfError
from pgolf.eval.windows import batches, plan, segments


def _covered(windows, n):
    count = np.zeros(n, dtype=int)
    for w in windows:
        lo, hi = w.targets
        count[lo:hi] += 1
    return count


@pytest.mark.parametrize("n,L,S", [(100, 16, 16), (100, 16, 5), (17, 16, 1), (2, 8, 3), (1000, 64, 64), (999, 64, 48)])
def test_stream_plan_scores_every_target_once(n, L, S):
    ws = plan(n, L, S)
    assert list(_covered(ws, n)) == [0] + [1] * (n - 1)
    for w in ws:
        assert 1 <= w.length <= L and 0 <= w.score_from < w.length
        assert w.start + w.length <= n - 1


def test_stride_equal_to_window_is_non_overlapping():
    ws = plan(100, 16, 16)
    assert [(w.start, w.length, w.score_from) for w in ws] == [(s, min(16, 99 - s), 0) for s in range(0, 99, 16)]


def test_sliding_windows_keep_full_context():
    ws = plan(200, 32, 8)
    assert all(w.score_from == 24 for w in ws[1:-1])  # L - S tokens of context after the first
    assert ws[0].score_from == 0 and ws[0].length == 32


def test_doc_aware_windows_stay_inside_documents():
    tokens = np.array([1, 5, 6, 7, 1, 8, 9, 1, 4, 4, 4, 4, 4])
    bos = np.flatnonzero(tokens == 1)
    assert segments(len(tokens), bos) == [(0, 4), (4, 7), (7, 12)]
    ws = plan(len(tokens), 3, 2, bos)
    assert list(_covered(ws, len(tokens))) == [0] + [1] * (len(tokens) - 1)
    for w in ws:
        lo, hi = segments(len(tokens), bos)[w.segment]
        assert lo <= w.start and w.start + w.length <= hi


def test_bad_geometry_is_an_error():
    with pytest.raises(PgolfError):
        plan(100, 16, 17)
    with pytest.raises(PgolfError):
        plan(100, 16, 0)


def test_batches_respect_the_token_budget():
    ws = plan(1000, 64, 16, np.array([0, 100, 130, 600]))
    groups = batches(ws, 256)
    assert sum(len(g) for g in groups) == len(ws)
    for g in groups:
        assert len(g) == 1 or len(g) * g[0].length <= 256
        assert g[0].length == max(w.length for w in g)
