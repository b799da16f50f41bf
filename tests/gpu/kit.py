"""Shared pieces of the GPU tests: the skip without CUDA, token batches with documents, errors."""

from __future__ import annotations

import pytest
import torch

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
GPU = [pytest.mark.gpu, needs_cuda]  # every GPU test module: pytestmark = GPU

H100_BYTES = 80 * 10**9  # an H100 SXM's memory: a full-size step must fit the challenge's GPU


def doc_batch(batch: int, seq_len: int, vocab: int, bos: int, seed: int, mean_doc: int = 400) -> torch.Tensor:
    """Random token ids (B, T) cut into documents: a BOS at 0 and then about every ``mean_doc`` tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq_len), generator=g)
    ids[ids == bos] = (bos + 1) % vocab
    starts = torch.rand(batch, seq_len, generator=g) < 1.0 / mean_doc
    ids[starts] = bos
    ids[:, 0] = bos
    return ids


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in float64."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def jitter(model: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> torch.nn.Module:
    """Every parameter moved off its init (zero-initialised projections would hide any mixing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g).to(p.device, p.dtype) * scale)
    return model
