"""Attention segments of a packed token row: a new one at every BOS, at the row start, and every
``max_len`` tokens inside a long document.

In a packed row (documents back to back, see ``data/loader.py``) a token may attend only to
earlier tokens of its own segment. A segment starts at every BOS; the row's first tokens, when
the row begins inside a document, form a segment of their own; with ``max_len > 0`` a document
longer than ``max_len`` is cut into pieces of ``max_len`` tokens counted from its start (from the
row start for the leading piece). This is the segmentation the record's training run passes to
its variable-length attention as ``cu_seqlens``. Everything here is computed from the ids alone.
"""

from __future__ import annotations

import torch


def segment_starts(ids: torch.Tensor, bos_id: int, max_len: int = 0) -> torch.Tensor:
    """Boolean (..., T): True where a segment starts."""
    T = ids.size(-1)
    pos = torch.arange(T, device=ids.device).expand_as(ids)
    is_bos = ids == bos_id
    starts = is_bos | (pos == 0)
    if max_len > 0:
        doc_start = torch.where(is_bos, pos, torch.zeros_like(pos)).cummax(dim=-1).values
        starts = starts | ((pos - doc_start) % max_len == 0)
    return starts


def segment_ids(ids: torch.Tensor, bos_id: int, max_len: int = 0) -> torch.Tensor:
    """(..., T) segment index of each position (0 for the row's first segment, +1 at each start)."""
    return segment_starts(ids, bos_id, max_len).cumsum(dim=-1) - 1


def cu_seqlens(ids: torch.Tensor, bos_id: int, max_len: int = 0, bucket: int = 0) -> tuple[torch.Tensor, int]:
    """(int32 boundaries ``[0, s1, ..., B*T]``, longest segment) of the segments of ids (B, T) or
    (T,), over the flattened batch (every row start is a boundary). With ``bucket`` > 0 the list is
    padded with B*T (empty segments) to a multiple of ``bucket``: fixed shapes for a compiled
    graph. It reads the boundaries back to the host: build it outside a compiled region."""
    rows = ids.reshape(-1, ids.size(-1))
    starts = segment_starts(rows, bos_id, max_len).reshape(-1).nonzero().flatten()
    bounds = torch.cat([starts, starts.new_tensor([rows.numel()])])
    longest = int((bounds[1:] - bounds[:-1]).max())
    if bucket > 0 and len(bounds) % bucket:
        bounds = torch.cat([bounds, bounds.new_full((bucket - len(bounds) % bucket,), rows.numel())])
    return bounds.to(torch.int32), longest
