"""The ``record`` preset's optimizer, schedule and data settings are the logged ones, and the
optimizers it builds have the hyperparameters of the record's own ``Optimizers``."""

from __future__ import annotations

import pytest
import torch

import pgolf
from pgolf.config import load_config
from pgolf.optim.build import build_optimizers, param_groups
from pgolf.optim.muon import Muon
from tests.optim.record import log_hyperparameters, record_h

# record log key -> (Config field, conversion of the logged value)
LOG_KEYS = {
    "adam_eps": ("adam_eps", None),
    "adam_wd": ("adam_weight_decay", None),
    "beta1": ("beta1", None),
    "beta2": ("beta2", None),
    "ema_decay": ("ema_decay", None),
    "embed_lr": ("embed_lr", None),
    "embed_wd": ("embed_weight_decay", None),
    "enable_looping_at": ("loop_enable_frac", None),
    "gptq_reserve_seconds": ("gptq_reserve_seconds", None),
    "grad_clip_norm": ("grad_clip_norm", None),
    "iterations": ("iterations", None),
    "matrix_lr": ("matrix_lr", None),
    "max_wallclock_seconds": ("max_wallclock_seconds", None),
    "min_lr": ("min_lr_frac", None),
    "muon_backend_steps": ("muon_backend_steps", None),
    "muon_momentum": ("muon_momentum", None),
    "muon_momentum_warmup_start": ("muon_momentum_warmup_start", None),
    "muon_momentum_warmup_steps": ("muon_momentum_warmup_steps", None),
    "muon_row_normalize": ("muon_row_norm", None),
    "muon_wd": ("muon_weight_decay", None),
    "scalar_lr": ("scalar_lr", None),
    "tied_embed_lr": ("tied_embed_lr", None),
    "train_batch_tokens": ("train_batch_tokens", None),
    "train_log_every": ("train_log_every", None),
    "train_seq_len": ("train_seq_len", None),
    "val_loss_every": ("val_loss_every", None),
    "warmdown_frac": ("warmdown_frac", None),
    "warmup_steps": ("warmup_steps", None),
    "grad_accum_steps": ("grad_accum_total", lambda v, log: v * log["world_size"]),
}
# script constants behind no log key
SCRIPT = dict(muon_coeffs="polar_express", lr_schedule="fraction", train_loader="packed", grad_clip_scope="rank")


@pytest.fixture(scope="module")
def logged(reference_root):
    return log_hyperparameters(reference_root)


def test_record_preset_has_the_logged_optimizer_schedule_and_data_values(logged):
    cfg = load_config("record")
    wrong = {}
    for key, (field, convert) in LOG_KEYS.items():
        want = convert(logged[key], logged) if convert else logged[key]
        if getattr(cfg, field) != want:
            wrong[key] = (field, getattr(cfg, field), want)
    assert not wrong
    assert {k: getattr(cfg, k) for k in SCRIPT} == SCRIPT


def test_optimizer_groups_have_the_records_hyperparameters(record_script, logged, monkeypatch):
    """The record's ``Optimizers`` built at tiny dims with the logged values, group by group."""
    h = record_h(record_script, **dict(logged, num_layers=4, model_dim=64, num_heads=2, num_kv_heads=1,
                                       vocab_size=128, xsa_last_n=4, loop_start=1, loop_end=2,
                                       parallel_start_layer=3, fused_ce_enabled=False, distributed=False))
    monkeypatch.setattr(torch.cuda, "Stream", lambda *a, **k: None)  # its side stream, unused on CPU
    theirs = record_script.Optimizers(h, record_script.GPT(h))
    cfg = load_config("record", smoke=True)
    opts = build_optimizers(pgolf.build_model(cfg), cfg)
    by_role = {"embed": opts[0], "matrix": opts[1], "scalar": opts[2]}
    assert len(opts) == 3 and isinstance(opts[1], Muon)
    pairs = {"embed": theirs.optimizer_tok, "matrix": theirs.optimizer_muon, "scalar": theirs.optimizer_scalar}
    keys = {"embed": ("lr", "betas", "eps", "weight_decay"), "scalar": ("lr", "betas", "eps", "weight_decay"),
            "matrix": ("lr", "momentum", "backend_steps", "nesterov", "weight_decay")}
    for role, ref in pairs.items():
        ours = by_role[role]
        assert type(ours) is type(ref) or isinstance(ours, Muon), role
        (g_ref,), (g_ours,) = ref.param_groups, ours.param_groups
        assert {k: g_ours[k] for k in keys[role]} == {k: g_ref[k] for k in keys[role]}, role
        assert g_ours["base_lr"] == g_ref["base_lr"], role
    assert by_role["matrix"].param_groups[0]["row_norm"] == theirs.optimizer_muon.param_groups[0]["row_normalize"]


def test_baseline_keeps_the_official_optimizer():
    """Adam (no decay) with betas (0.9, 0.95), fixed-quintic Muon without decay or row norm."""
    cfg = load_config("baseline")
    opts = build_optimizers(pgolf.build_model(load_config("tiny")), cfg)
    adams = [o for o in opts if not isinstance(o, Muon)]
    assert all(type(o) is torch.optim.Adam for o in adams)
    assert all(g["betas"] == (0.9, 0.95) and g["eps"] == 1e-8 and g["weight_decay"] == 0
               for o in adams for g in o.param_groups)
    (muon,) = [o for o in opts if isinstance(o, Muon)]
    g = muon.param_groups[0]
    assert (g["coeffs"], g["row_norm"], g["weight_decay"], g["momentum"], g["lr"]) == ("baseline", False, 0.0, 0.95, 0.04)
    assert (cfg.lr_schedule, cfg.min_lr_frac, cfg.grad_clip_norm, cfg.ema_decay, cfg.train_loader) == \
        ("baseline", 0.0, 0.0, 0.0, "stream")


def test_record_groups_cover_every_parameter_once():
    cfg = load_config("record", smoke=True)
    model = pgolf.build_model(cfg)
    groups = param_groups(model)
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
