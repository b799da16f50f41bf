"""The export quantization of a run, by ``quant_scheme``: int8_zlib (the baseline), rtn
(round-to-nearest int-k), or gptq (int-k with error feedback from calibration Hessians), each
optionally followed by LQER corrections of the ``lqer_top_k`` worst tensors."""

from __future__ import annotations

import torch

from pgolf.errors import PgolfError
from pgolf.quant.gptq import gptq_symbols
from pgolf.quant.intk import _dtype_name, as_rows, pack_rows, plan_for, quantize_rtn, row_scales
from pgolf.quant.lqer import SUFFIX_A, SUFFIX_B, lowrank_factors, quantize_factor, weighted_error
from pgolf.quant.quantize import QTensor, dequantize_tensor, quantize_state_dict

SCHEMES = ("int8_zlib", "rtn", "gptq")


def quantize_gptq(name: str, t: torch.Tensor, h: torch.Tensor, cfg) -> QTensor:
    plan = plan_for(name, cfg)
    w = as_rows(t.detach().float().to(h.device))
    scale = row_scales(w, plan)
    q = gptq_symbols(w, h, scale, plan.bits, cfg.gptq_block_size, cfg.gptq_damp, cfg.gptq_act_order)
    return pack_rows(t.shape, _dtype_name(t), q, scale, plan.bits)


def quantize_for_export(state: dict[str, torch.Tensor], cfg, hessians: dict[str, torch.Tensor] | None = None
                        ) -> dict[str, QTensor]:
    """Quantize a state dict as ``cfg`` says; ``hessians`` (by weight name) feed GPTQ and LQER."""
    if cfg.quant_scheme not in SCHEMES:
        raise PgolfError(f"config: quant_scheme={cfg.quant_scheme!r}; choose from {', '.join(SCHEMES)}")
    if cfg.quant_scheme == "int8_zlib":
        return quantize_state_dict(state)
    hessians = hessians or {}
    out, errors = {}, {}
    for name, t in state.items():
        t = t.detach()
        h = hessians.get(name)
        if cfg.quant_scheme == "gptq" and h is not None and t.numel() > cfg.quant_keep_float_numel:
            out[name] = quantize_gptq(name, t, h, cfg)
        else:
            out[name] = quantize_rtn(name, t.cpu(), cfg)
        if cfg.lqer_rank > 0 and out[name].kind == "intk_rows":
            err = as_rows(t.float().cpu()) - as_rows(dequantize_tensor(out[name]).float())
            errors[name] = (weighted_error(err, None if h is None else h.cpu()), err)
    worst = sorted(errors, key=lambda n: errors[n][0], reverse=True)[: max(cfg.lqer_top_k, 0)]
    for name in sorted(worst):
        h = hessians.get(name)
        a, b = lowrank_factors(errors[name][1], cfg.lqer_rank, None if h is None else h.cpu())
        out[name + SUFFIX_A] = quantize_factor(a, cfg.lqer_bits)
        out[name + SUFFIX_B] = quantize_factor(b, cfg.lqer_bits)
    return out
