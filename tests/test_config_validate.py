"""``config.validate``: every typed choice and every rule is checked in one line, before a run folder
exists, on every entry point; and reading a config needs no torch."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from pgolf.config import CHOICES, Config, load_config, validate
from pgolf.config_checks import CODECS
from pgolf.errors import PgolfError

REPO = Path(__file__).resolve().parents[1]
# String fields that take free text (paths, names, lists), not one of a fixed set of values.
FREE_TEXT = {"run_id", "data_path", "tokenizer_path", "out_dir", "wandb_project", "quant_rules",
             "artifact_codecs", "artifact_row_order_names"}


def _pgolf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return subprocess.run([sys.executable, "-m", "pgolf", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_every_string_field_has_typed_choices_or_is_free_text():
    strings = {f.name for f in fields(Config) if isinstance(f.default, str)}
    assert strings - FREE_TEXT == set(CHOICES), "a new str field needs a Literal type or a FREE_TEXT entry"
    for name, values in CHOICES.items():
        assert getattr(Config(), name) in values, name  # the default is one of its choices


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_a_bad_choice_is_one_line_naming_the_field_the_value_and_the_choices(name, tmp_path, capsys):
    from pgolf.cli import main

    words = f"{name}='bogus'; choose from {', '.join(CHOICES[name])}"
    with pytest.raises(PgolfError) as e:
        load_config("tiny", **{name: "bogus"})
    assert str(e.value) == f"config: {words}"
    runs = tmp_path / "runs"
    assert main(["train", "--preset", "tiny", f"{name}=bogus", f"out_dir={runs}"]) == 2
    err = capsys.readouterr().err
    assert err == f"pgolf: error: config: {words}\n"
    assert not runs.exists()


@pytest.mark.parametrize("setting, words", [
    ("lr_schedule=bogus", "lr_schedule='bogus'; choose from baseline, fraction"),
    ("attn_backend=flexx", "attn_backend='flexx'; choose from auto, sdpa, flex, varlen"),
])
def test_the_command_line_refuses_a_bad_choice_before_any_run_folder(setting, words, tmp_path):
    out = _pgolf("train", "--preset", "tiny", setting, f"out_dir={tmp_path / 'runs'}",
                 cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"pgolf: error: config: {words}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no runs/, nothing else written


def test_reading_and_checking_a_config_imports_no_torch():
    code = ("import sys, pgolf.config as c; cfg = c.validate(c.load_config('record')); "
            "c.Config.from_dict(cfg.to_dict()); assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("bad, words", [
    (dict(train_batch_tokens=1000), "train_batch_tokens=1000 does not split into 2 micro-batches"),
    (dict(quant_scheme="gptq", max_wallclock_seconds=5.0, gptq_reserve_seconds=5.0), "leaves no training time"),
    (dict(loop_extra=1, loop_start=1, loop_end=9), "loop layers [1, 9) are not a range"),
    (dict(bigram_buckets=1), "bigram_buckets=1: 0 (off) or >= 2"),
    (dict(bos_id=4096), "bos_id=4096 must be a token id below vocab_size=1024"),
    (dict(quant_rules="mlp=9"), "bits must be 2..8"),
    (dict(artifact_codecs="zlib,zip"), "artifact_codecs='zlib,zip': name one or more of"),
    (dict(ttt_chunk_tokens=0), "ttt_chunk_tokens=0 must be >= 1"),
    (dict(eval_stride=-1), "eval_stride=-1 must be >= 0"),
    (dict(muon_backend_steps=0), "muon_backend_steps=0 must be >= 1"),
])
def test_rules_between_settings_are_one_line_errors(bad, words):
    with pytest.raises(PgolfError) as e:
        load_config("tiny", **bad)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_every_problem_is_named_in_the_one_line():
    with pytest.raises(PgolfError) as e:
        load_config("tiny", lr_schedule="x", mlp_act="y", ema_decay=2.0)
    msg = str(e.value)
    assert "lr_schedule='x'" in msg and "mlp_act='y'" in msg and "ema_decay=2.0" in msg and "\n" not in msg


def test_the_batch_must_split_over_the_ranks_of_the_run(tmp_path):
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    cfg = load_config("tiny", out_dir=str(tmp_path / "runs"), run_id="r")  # grad_accum_total=2
    assert validate(cfg, world_size=2) is cfg
    with pytest.raises(PgolfError, match="grad_accum_total=2 is not divisible by world size 3"):
        validate(cfg, world_size=3)
    with pytest.raises(PgolfError, match="not divisible by world size 3"):  # train refuses before setup
        train_and_export(cfg, {"WORLD_SIZE": "3", "RANK": "0", "LOCAL_RANK": "0"}, packed_code)
    assert not (tmp_path / "runs").exists()


def test_a_backend_the_device_rules_out_fails_before_any_run_folder(tmp_path):
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    cfg = load_config("tiny", attn_backend="varlen", device="cpu", out_dir=str(tmp_path / "runs"), run_id="r")
    with pytest.raises(PgolfError, match="attn_backend=varlen needs CUDA"):
        train_and_export(cfg, {}, packed_code)
    assert not (tmp_path / "runs").exists()


def test_a_saved_config_is_checked_when_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(load_config("tiny").to_json().replace('"stream"', '"docs"'))
    with pytest.raises(PgolfError, match="train_loader='docs'; choose from stream, bos_aligned, packed"):
        Config.load(path)


def test_the_model_and_the_codecs_implement_exactly_the_choices():
    import torch

    from pgolf.artifact import codecs
    from pgolf.model.mlp import MLP
    from pgolf.optim.muon import iteration_coeffs
    from pgolf.optim.schedule import lr_for

    assert set(codecs.NAMES) == set(CODECS)
    # each value of a choice does something of its own (none silently means another)
    torch.manual_seed(0)
    x = torch.randn(4, 8)
    outs = []
    for act in CHOICES["mlp_act"]:
        torch.manual_seed(1)
        mlp = MLP(8, 2.0, act, 0.5)
        torch.nn.init.normal_(mlp.proj.weight)
        outs.append(mlp(x))
    assert not torch.allclose(*outs)
    assert len({iteration_coeffs(5, c) for c in CHOICES["muon_coeffs"]}) == len(CHOICES["muon_coeffs"])
    cfg = load_config("tiny", iterations=100, warmdown_iters=10, warmdown_frac=0.5, max_wallclock_seconds=0)
    lrs = {s: lr_for(cfg.replace(lr_schedule=s), 60, 0.0) for s in CHOICES["lr_schedule"]}
    assert lrs["baseline"] == 1.0 and lrs["fraction"] < 1.0


def test_the_packed_file_refuses_a_bad_environment_value_in_one_line(tmp_path):
    from pgolf.pack.builder import write_packed

    packed = write_packed(load_config("tiny").to_dict(), tmp_path / "sub" / "train_gpt.py")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(LR_SCHEDULE="bogus", OUT_DIR=str(tmp_path / "runs"))
    out = subprocess.run([sys.executable, str(packed)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "train_gpt.py: error: config: lr_schedule='bogus'; choose from baseline, fraction"]
    assert not (tmp_path / "runs").exists()
