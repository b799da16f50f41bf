"""Which keys each query may see: causal, document-isolated (never across a BOS), windowed.

``build_mask`` returns ``None`` for the plain causal case (SDPA's ``is_causal`` fast path, the
baseline), a boolean ``(B, 1, T, T)`` tensor for SDPA elsewhere, or a FlexAttention block mask
on CUDA. ``attend`` runs attention with whichever of the three it is given. Documents are read
from the tokens themselves: a document starts at every BOS, so any window of a stream can be
masked without aligned batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def doc_ids(ids: torch.Tensor, bos_id: int) -> torch.Tensor:
    """(B, T) document index of each position: +1 at every BOS."""
    return (ids == bos_id).cumsum(dim=1)


def _use_flex(backend: str, device: torch.device) -> bool:
    if backend == "flex":
        return True
    return backend == "auto" and device.type == "cuda"


def _flex_mask(docs: torch.Tensor | None, window: int, B: int, T: int, device: torch.device):
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b, h, q, kv):
        keep = q >= kv
        if docs is not None:
            keep = keep & (docs[b, q] == docs[b, kv])
        if window > 0:
            keep = keep & (q - kv < window)
        return keep

    return create_block_mask(mask_mod, B if docs is not None else None, None, T, T, device=device)


def build_mask(ids: torch.Tensor, doc_isolation: bool, window: int, bos_id: int, backend: str = "auto"):
    """The attention mask for token ids (B, T); None means plain causal."""
    if not doc_isolation and window <= 0:
        return None
    B, T = ids.shape
    docs = doc_ids(ids, bos_id) if doc_isolation else None
    if _use_flex(backend, ids.device):
        return _flex_mask(docs, window, B, T, ids.device)
    pos = torch.arange(T, device=ids.device)
    delta = pos[:, None] - pos[None, :]
    keep = delta >= 0
    if window > 0:
        keep = keep & (delta < window)
    keep = keep[None]
    if docs is not None:
        keep = keep & (docs[:, :, None] == docs[:, None, :])
    return keep[:, None]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask) -> torch.Tensor:
    """Attention of q (B, H, T, D) over k, v (B, KVH, T, D) under ``mask`` (see build_mask)."""
    gqa = k.size(1) != q.size(1)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if isinstance(mask, torch.Tensor):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    from torch.nn.attention.flex_attention import flex_attention

    return flex_attention(q, k, v, block_mask=mask, enable_gqa=gqa)
