import ast
import dataclasses
import os
import re
import subprocess
import sys

import pytest

from pgolf.config import load_config
from pgolf.errors import PgolfError
from pgolf.pack import pack_run
from pgolf.config import RUN_FIELDS
from pgolf.pack.builder import build_source, bundle, read_packed, recipe, run_defaults
from pgolf.pack.diff import describe
from pgolf.pack.entry import config_for
from pgolf.pack.collect import imported_names, discover, minify
from tests.conftest import HANG_TIMEOUT


def test_imports_are_followed_inside_functions_and_relative():
    src = "import os\nfrom pgolf.model import gpt\ndef f():\n    from pgolf.quant.gptq import run\n    from .sib import x\n"
    names = imported_names(ast.parse(src), "pgolf.artifact.export", is_pkg=False)
    assert {"pgolf.model", "pgolf.model.gpt", "pgolf.quant.gptq", "pgolf.artifact.sib"} <= names
    assert "os" not in names


def test_discover_bundles_training_modules_not_the_cli():
    mods = discover()
    assert {"pgolf.train.trainer", "pgolf.model.gpt", "pgolf.artifact.export", "pgolf.eval.score"} <= set(mods)
    assert not any(m in ("pgolf.cli", "pgolf.run") or m.endswith(".commands") for m in mods)
    assert "pgolf.pack.builder" not in mods and "pgolf.pack.entry" in mods


def test_minify_keeps_the_program_and_drops_docstrings():
    src = '"""doc"""\nclass A:\n    """doc"""\n    def f(self, x):\n        """doc"""\n        # comment\n        return x + 1\n'
    out = minify(src)
    ns = {}
    exec(out, ns)
    assert ns["A"]().f(1) == 2 and "doc" not in out and "comment" not in out and len(out) < len(src) / 2


def test_packed_source_is_deterministic_and_keeps_only_the_recipe():
    cfg = load_config("tiny", seed=7, data_path="/somewhere/fineweb10B_sp1024", run_id="x").to_dict()
    assert build_source(cfg) == build_source(cfg)
    r = recipe(cfg)
    assert not set(RUN_FIELDS) & set(r) and r["num_layers"] == 2
    # another seed, run id, output folder and data location of the same recipe: the same bytes
    other_run = load_config("tiny", seed=8, run_id="y", out_dir="/elsewhere/runs",
                            data_path="/mnt/d/datasets/fineweb10B_sp1024",
                            tokenizer_path="/mnt/d/tokenizers/fineweb_1024_bpe.model").to_dict()
    assert build_source(other_run) == build_source(cfg)
    # ... but not another recipe
    assert build_source(load_config("tiny", seed=7, matrix_lr=0.05).to_dict()) != build_source(cfg)
    # the file states the per-run defaults: the Config's, data under the official relative folders
    run = read_packed(build_source(cfg).encode("latin-1"))["run"]
    assert run == {"seed": 1337, "run_id": "", "out_dir": "runs", "data_path": "data/datasets/fineweb10B_sp1024",
                   "tokenizer_path": "data/tokenizers/fineweb_1024_bpe.model"}
    # other data keeps its name under the official relative folders
    other = run_defaults(load_config("tiny", vocab_size=8192, data_path="/x/datasets/fineweb10B_sp8192_case",
                                     tokenizer_path="/x/tokenizers/fineweb_8192_bpe_case.model").to_dict())
    assert other["data_path"] == "data/datasets/fineweb10B_sp8192_case"
    assert other["tokenizer_path"] == "data/tokenizers/fineweb_8192_bpe_case.model"


def test_the_environment_sets_the_run_and_may_change_the_recipe():
    cfg = load_config("tiny", seed=7, matrix_lr=0.05).to_dict()
    packed = read_packed(build_source(cfg).encode("latin-1"))
    got = config_for(packed["recipe"], packed["run"], {"SEED": "42", "RUN_ID": "r1", "DATA_PATH": "/d",
                                                      "ITERATIONS": "3", "HOME": "/root"})
    assert (got.seed, got.run_id, got.data_path, got.iterations, got.matrix_lr) == (42, "r1", "/d", 3, 0.05)
    assert config_for(packed["recipe"], packed["run"], {}).seed == 1337
    with pytest.raises(PgolfError, match="num_heads"):  # checked before the run starts
        config_for(packed["recipe"], packed["run"], {"NUM_HEADS": "3"})


def test_difference_names_the_recipe_keys_and_the_modules():
    base = load_config("tiny").to_dict()
    a = build_source(base).encode("latin-1")
    assert describe(a, a) == ""
    lr = build_source(dict(base, matrix_lr=0.05, seed=3)).encode("latin-1")
    assert describe(lr, a) == "recipe matrix_lr=0.05 vs 0.04 (default)"
    mods = bundle(base)
    mods["pgolf.model.gpt"] = [0, mods["pgolf.model.gpt"][1] + "X = 1\n"]
    mods.pop("pgolf.eval.audit")
    edited = build_source(base, mods).encode("latin-1")
    assert describe(edited, a) == "module source pgolf.eval.audit (missing here), pgolf.model.gpt"
    assert describe(b"print(1)\nprint(2)\n", b"print(1)\nprint(3)\n") == \
        "not both written by `pgolf pack`; the text differs from line 2"
    # a file packed when the seed was still baked into the recipe: named, with the remedy
    old = a.decode("latin-1").replace("\nR=", "\n#R=").replace("C={", "C={'seed': 5, ", 1).encode("latin-1")
    assert describe(old, a).startswith("recipe seed=5 vs 1337 (default) (per-run fields baked in by an older")


def test_pack_run_needs_a_run_folder(tmp_path):
    with pytest.raises(PgolfError, match="config.json"):
        pack_run(tmp_path, tmp_path / "out")


def _final(log: str) -> tuple[list[str], str]:
    losses = re.findall(r"^step:\d+/\d+ train_loss:(\S+)", log, re.M)
    exact = re.search(r"^final_\w+_roundtrip_exact (.*)$", log, re.M).group(1)
    return losses, exact


def test_packed_file_runs_standalone_and_matches_the_package(tmp_path, small_data):
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path / "runs"),
                      run_id="pkg", seed=11, iterations=3, warmdown_iters=2)
    summary = train_and_export(cfg, {}, packed_code, echo=False)
    run_dir = tmp_path / "runs" / "pkg"
    packed = pack_run(run_dir, tmp_path / "submission")
    assert packed == tmp_path / "submission" / "train_gpt.py"
    # the code bytes training reported are the packed file's real bytes
    assert summary["bytes_code"] == packed.stat().st_size

    # run it from an empty folder where `import pgolf` would fail without the packed modules
    work, poison = tmp_path / "empty", tmp_path / "poison" / "pgolf"
    work.mkdir()
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('the installed package was used')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    # the seed is a per-run setting: the file's default is 1337, the run's seed comes from SEED
    env.update(PYTHONPATH=str(poison.parent), DATA_PATH=str(data), TOKENIZER_PATH=str(tok), RUN_ID="packed", SEED="11")
    out = subprocess.run([sys.executable, str(packed)], cwd=work, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr[-2000:]
    log = (work / "runs" / "packed" / "train.log").read_text()
    pkg_log = (run_dir / "train.log").read_text()
    assert _final(log) == _final(pkg_log)
    assert len(_final(log)[0]) == cfg.iterations
    m = re.search(r"^Total submission size \w+: (\d+) bytes", log, re.M)
    model_bytes = (work / "runs" / "packed" / "model.pgolf").stat().st_size
    assert int(m.group(1)) == packed.stat().st_size + model_bytes


def test_packed_file_under_torchrun_matches_one_process(tmp_path, small_data):
    """`torchrun --nproc_per_node=2 train_gpt.py` (gloo on CPU) trains on the same global batch."""
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path / "runs"),
                      run_id="one", seed=5, iterations=3, warmdown_iters=2, grad_accum_total=2)
    train_and_export(cfg, {}, packed_code, echo=False)
    packed = pack_run(tmp_path / "runs" / "one", tmp_path / "submission")
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "PYTHONPATH")}
    env.update(DATA_PATH=str(data), TOKENIZER_PATH=str(tok), RUN_ID="two", SEED="5")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(packed)]
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    one_losses, one_exact = _final((tmp_path / "runs" / "one" / "train.log").read_text())
    two_losses, two_exact = _final((work / "runs" / "two" / "train.log").read_text())
    assert len(two_losses) == len(one_losses) == 3
    for a, b in zip(one_losses, two_losses):
        assert abs(float(a) - float(b)) < 1e-4 * max(1.0, abs(float(a))), (one_losses, two_losses)
    bpb = [float(re.search(r"val_bpb:(\S+)", e).group(1)) for e in (one_exact, two_exact)]
    assert abs(bpb[0] - bpb[1]) < 1e-4, bpb


def test_pack_and_size_commands(tmp_path, capsys):
    import json

    from pgolf.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(load_config("tiny", seed=3).to_json())
    (run / "model.pgolf").write_bytes(b"x" * 100)
    assert main(["pack", str(run), "--out", str(tmp_path / "sub")]) == 2
    assert "not a finished run" in capsys.readouterr().err
    (run / "summary.json").write_text("{}")
    assert main(["pack", str(run), "--out", str(tmp_path / "sub"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["bytes_code"] == (tmp_path / "sub" / "train_gpt.py").stat().st_size
    assert res["bytes_total"] == res["bytes_code"] + 100 and (tmp_path / "sub" / "model.pgolf").is_file()
    assert main(["size", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_latin1_literal_round_trips_every_byte(tmp_path):
    from pgolf.pack.builder import latin1_literal

    data = bytes(range(256)) + b"\x001\x007\x008\\'\r\n\x00" + bytes(range(255, -1, -1))
    src = f"# -*- coding: latin-1 -*-\nB='{latin1_literal(data)}'.encode('latin-1')\n".encode("latin-1")
    path = tmp_path / "lit.py"
    path.write_bytes(src)
    ns: dict = {}
    exec(compile(path.read_bytes(), str(path), "exec"), ns)
    assert ns["B"] == data
    assert len(src) < len(data) * 1.05 + 60


def test_minify_drops_inert_annotations_but_keeps_dataclass_fields():
    src = ("from __future__ import annotations\nimport dataclasses\n"
           "@dataclasses.dataclass\nclass C:\n    a: int = 1\n    b: str = 'x'\n"
           "def f(x: int, *r: float, k: 'C' = None, **kw: dict) -> int:\n    y: int = x + 1\n    z: int\n    return y\n")
    out = minify(src)
    assert "->" not in out and "x: int" not in out and "y: int" not in out
    ns: dict = {}
    exec(out, ns)
    assert ns["f"](1) == 2 and [f.name for f in dataclasses.fields(ns["C"])] == ["a", "b"]


def test_a_recipe_without_ttt_does_not_carry_it():
    from pgolf.pack.builder import bundle

    ttt = {"pgolf.eval.ttt", "pgolf.eval.ttt_global", "pgolf.eval.lora"}
    assert not ttt & set(bundle(load_config("record", ttt_enabled=False).to_dict()))
    assert ttt <= set(bundle(load_config("record").to_dict()))  # the record's eval runs TTT
