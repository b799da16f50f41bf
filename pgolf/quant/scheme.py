"""The export quantization of a run, by ``quant_scheme``: int8_zlib (the baseline), rtn
(round-to-nearest int-k), or gptq (int-k with error feedback from calibration Hessians), each
optionally followed by LQER corrections of the ``lqer_top_k`` worst tensors.

Per tensor, in order: an attention gate becomes int8 rows when ``quant_gate_int8`` is on; a
tensor of at most ``quant_keep_float_numel`` values (or not float) passes through (control
tensors in fp32 unless ``quant_passthrough=fp16``, the rest fp16); every other tensor gets the
int-k of its role (``intk.plan_for``), by GPTQ when it has a Hessian.
"""

from __future__ import annotations

import torch

from pgolf.errors import PgolfError
from pgolf.quant.gptq import gptq_symbols
from pgolf.quant.intk import _dtype_name, as_rows, is_gate, pack_rows, plan_for, quantize_absmax_rows, quantize_rtn, row_scales
from pgolf.quant.lqer import corrections
from pgolf.quant.quantize import QTensor, passthrough, quantize_state_dict

SCHEMES = ("int8_zlib", "rtn", "gptq")
PASSTHROUGH = ("mixed", "fp16")


def quantize_gptq(name: str, t: torch.Tensor, h: torch.Tensor, cfg) -> QTensor:
    plan = plan_for(name, cfg)
    w = as_rows(t.detach().float().to(h.device))
    scale = row_scales(w, plan)
    q = gptq_symbols(w, h, scale, plan.bits, cfg.gptq_block_size, cfg.gptq_damp, cfg.gptq_act_order)
    return pack_rows(t.shape, _dtype_name(t), q, scale, plan.bits)


def quantize_one(name: str, t: torch.Tensor, h: torch.Tensor | None, cfg) -> QTensor:
    if cfg.quant_gate_int8 and is_gate(name, t):
        return quantize_absmax_rows(t, 8)
    if not t.is_floating_point() or t.numel() <= cfg.quant_keep_float_numel:
        return passthrough(name, t, control_fp32=cfg.quant_passthrough == "mixed")
    if cfg.quant_scheme == "gptq" and h is not None:
        return quantize_gptq(name, t, h, cfg)
    return quantize_rtn(name, t, cfg)


def quantize_for_export(state: dict[str, torch.Tensor], cfg, hessians: dict[str, torch.Tensor] | None = None
                        ) -> dict[str, QTensor]:
    """Quantize a state dict as ``cfg`` says; ``hessians`` (by weight name) feed GPTQ and LQER."""
    if cfg.quant_scheme not in SCHEMES:
        raise PgolfError(f"config: quant_scheme={cfg.quant_scheme!r}; choose from {', '.join(SCHEMES)}")
    if cfg.quant_scheme == "int8_zlib":
        return quantize_state_dict(state)
    hessians = hessians or {}
    out = {name: quantize_one(name, t.detach(), hessians.get(name), cfg) for name, t in state.items()}
    out.update(corrections(state, out, hessians, cfg))
    return out
