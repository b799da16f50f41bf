"""Model <-> artifact: quantize and write a trained model; read, dequantize and rebuild one."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pgolf.artifact.container import read_artifact, write_artifact
from pgolf.config import Config, portable
from pgolf.quant.quantize import dequantize_state_dict
from pgolf.quant.scheme import quantize_for_export


def export_model(model: nn.Module, cfg: Config, path: str | Path, hessians: dict | None = None) -> int:
    """Write the artifact for ``model`` (``hessians`` from calibration feed GPTQ); returns its bytes.
    The file states the config without local paths or run names (``config.portable``)."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if cfg.quant_scheme == "int8_zlib" or not hessians:
        state = {k: v.cpu() for k, v in state.items()}
    return write_artifact(path, quantize_for_export(state, cfg, hessians), portable(cfg.to_dict()))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the model an artifact describes, with its dequantized weights, in eval mode."""
    from pgolf.model import build_model

    qstate, config = read_artifact(path)
    cfg = Config.from_dict(config)
    model = build_model(cfg, device)
    model.load_state_dict(dequantize_state_dict(qstate), strict=True)
    return model.eval(), cfg
