"""The model: `build_model(config)` returns the GPT the config describes."""

from __future__ import annotations

import torch

from pgolf.model.gpt import GPT


def build_model(cfg, device: str | torch.device | None = None) -> GPT:
    """The GPT of ``cfg``; with ``device``, moved there in the storage dtypes the config asks for
    (``embed_bf16``: on CUDA the token embedding is kept in bf16, as the record keeps it)."""
    model = GPT(cfg)
    if device is None:
        return model
    device = torch.device(device)
    model = model.to(device)
    if cfg.embed_bf16 and device.type == "cuda":
        model.tok_emb.to(torch.bfloat16)
    return model


__all__ = ["GPT", "build_model"]
