"""Where the eval windows go: which tokens each forward reads and which targets it scores.

Positions index the val stream ``tokens[0..n)``. Target ``p`` (``1 <= p < n``) is the token at
position ``p``, predicted from ``tokens[..p)``. A :class:`Window` reads inputs
``tokens[start : start + length]`` with labels ``tokens[start + 1 : start + 1 + length]`` and
scores only labels ``score_from..length-1`` of it, so consecutive windows may overlap as context
while every target is scored by exactly one window.

A segment is a run of input positions ``[lo, hi)`` whose context may not reach before ``lo``:
the whole stream, or one document (``[BOS] + tokens`` up to the next BOS, whose target is the
next document's BOS). Inside a segment the targets are cut into blocks: the first ``first``
targets, then blocks of ``stride``. Each block is read by a window that ends at the block's end
and reaches back as far as a full window of ``seq_len`` inputs would (never before ``lo``).
With ``stride == seq_len`` this is exactly the baseline's non-overlapping windows.

Packed rows (:func:`packed_rows`) are the record's document-aware layout: the stream is cut into
rows of a fixed number of inputs from position 0, and each row is scored by one forward in
which attention restarts at every BOS and every ``seq_len`` tokens into a document (and at
the row start): ``pgolf.data.segments.cu_seqlens``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgolf.errors import PgolfError


@dataclass(frozen=True)
class Window:
    start: int  # first input position
    length: int  # inputs read (labels are the next ``length`` positions)
    score_from: int  # index in the window of the first scored label
    segment: int = 0  # which segment (document) it belongs to

    @property
    def targets(self) -> tuple[int, int]:
        """Scored target positions as a half-open range."""
        return self.start + 1 + self.score_from, self.start + 1 + self.length

    @property
    def n_scored(self) -> int:
        return self.length - self.score_from


def check_geometry(seq_len: int, stride: int) -> None:
    if seq_len < 1:
        raise PgolfError(f"eval seq_len must be >= 1, got {seq_len}")
    if not 1 <= stride <= seq_len:
        raise PgolfError(f"eval stride must be in 1..seq_len={seq_len}, got {stride}")


def segment_windows(lo: int, hi: int, seq_len: int, stride: int, first: int | None = None,
                    segment: int = 0) -> list[Window]:
    """Windows covering every target of the input span ``[lo, hi)`` once (targets lo+1..hi)."""
    check_geometry(seq_len, stride)
    first = seq_len if first is None else first
    m = hi - lo  # targets in the segment
    out, a = [], 0
    while a < m:
        nominal = first if a == 0 else stride
        b = min(a + nominal, m)
        w0 = max(0, min(a, a + nominal - seq_len))
        out.append(Window(lo + w0, b - w0, a - w0, segment))
        a = b
    return out


def segments(n_tokens: int, bos: np.ndarray | None) -> list[tuple[int, int]]:
    """Input spans: the whole stream, or one per document when BOS positions are given."""
    last = n_tokens - 1  # the last token is a label only
    if bos is None:
        return [(0, last)] if last > 0 else []
    starts = [int(s) for s in bos if s < last]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    ends = starts[1:] + [last]
    return [(s, e) for s, e in zip(starts, ends) if e > s]


def plan(n_tokens: int, seq_len: int, stride: int, bos: np.ndarray | None = None) -> list[Window]:
    """All windows of a stream (``bos`` given: document-aware, context never crosses a BOS)."""
    out: list[Window] = []
    for i, (lo, hi) in enumerate(segments(n_tokens, bos)):
        out += segment_windows(lo, hi, seq_len, stride, segment=i)
    return out


def packed_rows(n_tokens: int, row_tokens: int) -> list[tuple[int, int]]:
    """Input spans ``[lo, hi)`` of rows of ``row_tokens`` inputs from position 0 (the last may be
    shorter): together they score every target ``1..n_tokens-1`` once."""
    if row_tokens < 1:
        raise PgolfError(f"packed eval rows must hold >= 1 token, got {row_tokens}")
    last = n_tokens - 1
    return [(lo, min(lo + row_tokens, last)) for lo in range(0, last, row_tokens)]


def batches(windows: list[Window], batch_tokens: int) -> list[list[Window]]:
    """Group windows (longest first, stable) so each padded batch holds <= batch_tokens inputs."""
    order = sorted(windows, key=lambda w: -w.length)
    out: list[list[Window]] = []
    for w in order:
        cur = out[-1] if out else None
        if cur is not None and (len(cur) + 1) * cur[0].length <= batch_tokens:
            cur.append(w)
        else:
            out.append([w])
    return out


def window_flops_tokens(windows: list[Window]) -> tuple[int, int]:
    """(inputs read, sum over inputs of their context length): the work the windows cost."""
    inputs = sum(w.length for w in windows)
    ctx = sum(w.length * (w.length + 1) // 2 for w in windows)
    return inputs, ctx
