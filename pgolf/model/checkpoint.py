"""The raw checkpoint of a run folder: ``checkpoint.pt`` = {"config": Config dict, "model": state dict}."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from pgolf.io import atomic_write

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: str | Path, config: dict, state_dict: dict[str, torch.Tensor]) -> int:
    """Write the checkpoint under a temporary name, then rename; returns its bytes."""
    buf = io.BytesIO()
    torch.save({"config": config, "model": {k: v.detach().cpu() for k, v in state_dict.items()}}, buf)
    atomic_write(path, buf.getvalue())
    return buf.tell()

