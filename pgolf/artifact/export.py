"""Model <-> artifact: quantize and write a trained model; read, dequantize and rebuild one."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pgolf.artifact import codecs, grouped
from pgolf.artifact.container import read_artifact, write_artifact
from pgolf.config import Config
from pgolf.quant.quantize import dequantize_state_dict
from pgolf.quant.scheme import quantize_for_export


def export_problems(cfg) -> list[str]:
    """The export settings that cannot work (for ``config.validate``)."""
    from pgolf.quant.calibrate import SOURCES
    from pgolf.quant.intk import parse_rules
    from pgolf.quant.lqer import MODES
    from pgolf.quant.scheme import PASSTHROUGH, SCHEMES

    out = []
    for name, value, choices in (("quant_scheme", cfg.quant_scheme, SCHEMES),
                                 ("quant_passthrough", cfg.quant_passthrough, PASSTHROUGH),
                                 ("gptq_calib_source", cfg.gptq_calib_source, SOURCES),
                                 ("lqer_mode", cfg.lqer_mode, MODES),
                                 ("artifact_group_by", cfg.artifact_group_by, grouped.GROUP_BY),
                                 ("artifact_row_order", cfg.artifact_row_order, grouped.ROW_ORDERS)):
        if value not in choices:
            out.append(f"{name}={value!r}; choose from {', '.join(choices)}")
    unknown = [n for n in codecs.split(cfg.artifact_codecs) if n not in codecs.NAMES]
    if unknown or not codecs.split(cfg.artifact_codecs):
        out.append(f"artifact_codecs={cfg.artifact_codecs!r}: name one or more of {', '.join(codecs.NAMES)}")
    for name in ("quant_bits", "quant_embed_bits", "lqer_bits"):
        if not 2 <= getattr(cfg, name) <= 8:
            out.append(f"{name}={getattr(cfg, name)}; choose 2..8")
    clips = ("quant_clip_sigmas", "quant_attn_clip_sigmas", "quant_mlp_clip_sigmas", "quant_embed_clip_sigmas")
    out += [f"{n}={getattr(cfg, n)} must be >= 0" for n in clips if getattr(cfg, n) < 0]
    if cfg.lqer_group < 1 or cfg.gptq_block_size < 1 or cfg.gptq_calib_batches < 0:
        out.append("lqer_group and gptq_block_size must be >= 1, gptq_calib_batches >= 0")
    if cfg.gptq_reserve_seconds < 0 or cfg.gptq_reserve_margin <= 0:
        out.append("gptq_reserve_seconds must be >= 0 and gptq_reserve_margin > 0")
    try:
        parse_rules(cfg.quant_rules)
    except Exception as e:  # a PgolfError with its own "config: " prefix
        out.append(str(e).removeprefix("config: "))
    return out


def export_model(model: nn.Module, cfg: Config, path: str | Path, hessians: dict | None = None) -> int:
    """Write the artifact for ``model`` (``hessians`` from calibration feed GPTQ); returns its bytes."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if cfg.quant_scheme == "int8_zlib" or not hessians:
        state = {k: v.cpu() for k, v in state.items()}
    return write_artifact(path, quantize_for_export(state, cfg, hessians), cfg.to_dict())


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the model an artifact describes, with its dequantized weights, in eval mode."""
    from pgolf.model import build_model

    qstate, config = read_artifact(path)
    cfg = Config.from_dict(config)
    model = build_model(cfg, device)
    model.load_state_dict(dequantize_state_dict(qstate), strict=True)
    return model.eval(), cfg
