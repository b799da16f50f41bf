"""Which keys each query may see: causal, document-isolated (never across a segment start),
windowed; and the attention kernel that applies it.

Segments come either from the tokens (a new one at every BOS and at every row start) or from
``cu_seqlens``: cumulative segment starts over the flattened (B*T) batch, as the record's
document-packing loader builds them (a document longer than the training length is cut into
pieces of that length, see :func:`pgolf.data.segments.cu_seqlens`); ``cu_seqlens`` must contain every row
start, may be padded at the end with B*T (empty segments), and only counts with doc isolation.

Backends (``attn_backend``):
- ``sdpa``: a boolean (B, 1, T, T) mask for PyTorch SDPA (any device; the plain causal case
  keeps SDPA's ``is_causal`` fast path, the baseline);
- ``flex``: a FlexAttention block mask (CUDA; also runs eagerly on CPU, forward only);
- ``varlen``: ``torch.nn.attention.varlen.varlen_attn`` over the packed segments (CUDA with a
  torch that has it; inputs in bf16). It needs ``cu_seqlens`` to stay inside a compiled graph:
  without them they are computed from the tokens eagerly;
- ``auto``: varlen on CUDA when ``cu_seqlens`` are given and the installed torch has it,
  FlexAttention on CUDA otherwise, SDPA elsewhere.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from pgolf.data import segments
from pgolf.errors import PgolfError

BACKENDS = ("auto", "sdpa", "flex", "varlen")


class Varlen(NamedTuple):
    cu_seqlens: torch.Tensor  # int32 segment starts over the flattened batch, ending with B*T
    max_seqlen: int
    window: int  # 0 = full causal


def has_varlen() -> bool:
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return True


def segment_ids(ids: torch.Tensor, bos_id: int, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T) segment index of each position, from ``cu_seqlens`` when given, else from BOS."""
    if cu_seqlens is None:
        return segments.segment_ids(ids, bos_id)
    pos = torch.arange(ids.numel(), device=ids.device)
    return (torch.searchsorted(cu_seqlens.to(pos.dtype), pos, right=True) - 1).view(ids.shape)


def resolve_backend(backend: str, device: torch.device, have_cu: bool) -> str:
    """The kernel ``backend`` means on ``device``: sdpa, flex or varlen."""
    if backend == "auto":
        if device.type != "cuda":
            return "sdpa"
        return "varlen" if have_cu and has_varlen() else "flex"
    if backend == "varlen" and (device.type != "cuda" or not has_varlen()):
        raise PgolfError(f"attn_backend=varlen needs CUDA and a torch with torch.nn.attention.varlen "
                         f"(here: {device.type}, torch {torch.__version__}); use auto, flex or sdpa")
    if backend not in BACKENDS:
        raise PgolfError(f"attn_backend={backend!r}; choose from {', '.join(BACKENDS)}")
    return backend


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


def build_mask(ids: torch.Tensor, doc_isolation: bool, window: int, bos_id: int, backend: str = "auto",
               cu_seqlens: torch.Tensor | None = None, max_seqlen: int = 0):
    """The attention mask for token ids (B, T), in the form ``attend`` takes; None = plain causal."""
    if not doc_isolation and window <= 0:
        return None
    B, T = ids.shape
    kind = resolve_backend(backend, ids.device, cu_seqlens is not None and doc_isolation)
    if kind == "varlen":
        if not doc_isolation:  # one segment per row
            cu, longest = torch.arange(0, B * T + 1, T, device=ids.device, dtype=torch.int32), T
        elif cu_seqlens is None:
            cu, longest = segments.cu_seqlens(ids, bos_id)
        else:
            cu, longest = cu_seqlens.to(torch.int32), max_seqlen or T
        return Varlen(cu, longest, window)
    docs = segment_ids(ids, bos_id, cu_seqlens) if doc_isolation else None
    if kind == "flex":
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


def _varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Varlen) -> torch.Tensor:
    from torch.nn.attention.varlen import varlen_attn

    B, H, T, D = q.shape
    half = q.dtype if q.dtype in (torch.bfloat16, torch.float16) else torch.bfloat16
    flat = [t.transpose(1, 2).reshape(B * T, t.size(1), D).to(half) for t in (q, k, v)]
    window = (mask.window - 1, 0) if mask.window > 0 else (-1, 0)
    y = varlen_attn(*flat, mask.cu_seqlens, mask.cu_seqlens, mask.max_seqlen, mask.max_seqlen,
                    window_size=window, enable_gqa=k.size(1) != H)
    return y.view(B, T, H, D).transpose(1, 2).to(q.dtype)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask) -> torch.Tensor:
    """Attention of q (B, H, T, D) over k, v (B, KVH, T, D) under ``mask`` (see build_mask)."""
    gqa = k.size(1) != q.size(1)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if isinstance(mask, torch.Tensor):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
    if isinstance(mask, Varlen):
        return _varlen(q, k, v, mask)
    from torch.nn.attention.flex_attention import flex_attention

    return flex_attention(q, k, v, block_mask=mask, enable_gqa=gqa)
