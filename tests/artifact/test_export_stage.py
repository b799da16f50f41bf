"""The export stage on its own: training ends at checkpoint.pt, and `pgolf export` on that
checkpoint gives back the run's own artifact and score, or another export of the same weights."""

from __future__ import annotations

import json
import shutil

import pytest

from pgolf.artifact.commands import export_checkpoint
from pgolf.artifact.container import read_artifact
from pgolf.cli import main
from pgolf.config import Config, load_config
from pgolf.errors import PgolfError
from pgolf.data.paths import _manifest_root
from pgolf.eval.evaluate import evaluate_artifact
from pgolf.export import train_and_export
from pgolf.pack.builder import packed_code


@pytest.fixture(scope="module")
def run(small_data, tmp_path_factory):
    data, tok = small_data
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(out), run_id="r",
                      iterations=4, val_loss_every=0)
    return out / "r", train_and_export(cfg, {}, packed_code, echo=False)


def test_exporting_the_runs_checkpoint_gives_the_runs_artifact_and_score(run, tmp_path, one_thread):
    run_dir, summary = run
    assert (run_dir / "checkpoint.pt").is_file()
    res = export_checkpoint(run_dir, out=tmp_path / "again")
    assert (tmp_path / "again" / "model.pgolf").read_bytes() == (run_dir / "model.pgolf").read_bytes()
    assert (tmp_path / "again" / "train_gpt.py").read_bytes() == (run_dir / "train_gpt.py").read_bytes()
    assert (res["val_bpb"], res["val_loss"], res["bytes_total"]) == \
        (summary["val_bpb"], summary["val_loss"], summary["bytes_total"])
    assert json.loads((tmp_path / "again" / "export.json").read_text())["val_bpb"] == res["val_bpb"]
    assert "final_int8_zlib_roundtrip_exact" in (tmp_path / "again" / "export.log").read_text()


def test_the_model_file_names_no_local_paths(run, small_data, tmp_path, one_thread):
    run_dir, summary = run
    data, tok = small_data
    _, config = read_artifact(run_dir / "model.pgolf")
    assert config["data_path"] == f"data/datasets/{data.name}" and config["tokenizer_path"] == f"data/tokenizers/{tok.name}"
    assert (config["run_id"], config["out_dir"]) == (Config().run_id, Config().out_dir)
    assert config["seed"] == load_config("tiny").seed  # kept: score-first TTT draws its adapters from it
    # the same weights run elsewhere, under another name: the very same model file
    moved = tmp_path / "a" / "much" / "longer" / "place" / data.name
    shutil.copytree(data, moved)
    export_checkpoint(run_dir / "checkpoint.pt", out=tmp_path / "again",
                      overrides={"data_path": str(moved), "run_id": "another-name"})
    assert (tmp_path / "again" / "model.pgolf").read_bytes() == (run_dir / "model.pgolf").read_bytes()


def test_eval_without_data_reads_the_runs_data_else_the_official_folders(run, small_data, tmp_path, monkeypatch,
                                                                          one_thread):
    run_dir, summary = run
    data, tok = small_data
    monkeypatch.chdir(tmp_path)
    assert evaluate_artifact(run_dir / "model.pgolf", device="cpu")["val_bpb"] == summary["val_bpb"]  # config.json
    assert _manifest_root(data) is None  # so the tokenizer comes from the run's config.json
    assert evaluate_artifact(run_dir / "model.pgolf", str(data), device="cpu")["val_bpb"] == summary["val_bpb"]
    alone = tmp_path / "alone" / "model.pgolf"  # the model file without its run folder
    alone.parent.mkdir()
    shutil.copy(run_dir / "model.pgolf", alone)
    with pytest.raises(PgolfError, match=f"data/datasets/{data.name}.*pass --data"):
        evaluate_artifact(alone, device="cpu")
    for sub, target in (("datasets", data), ("tokenizers", tok)):  # the official layout under the working folder
        (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / sub / target.name).symlink_to(target)
    assert evaluate_artifact(alone, device="cpu")["val_bpb"] == summary["val_bpb"]
    # a run folder copied from another machine: its config.json names data not here, data/ has it
    stale = json.loads((run_dir / "config.json").read_text())
    stale.update(data_path="/elsewhere/" + data.name, tokenizer_path="/elsewhere/" + tok.name)
    (alone.parent / "config.json").write_text(json.dumps(stale))
    assert evaluate_artifact(alone, device="cpu")["val_bpb"] == summary["val_bpb"]


def test_pgolf_export_with_overrides_and_json(run, tmp_path, capsys):
    run_dir, summary = run
    ckpt = run_dir / "checkpoint.pt"
    assert main(["export", str(ckpt), "quant_scheme=gptq", "gptq_calib_batches=1", "quant_keep_float_numel=1024",
                 "artifact_codecs=zlib", "--out", str(tmp_path / "gptq"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["checkpoint"] == str(ckpt) and res["artifact"] == str(tmp_path / "gptq" / "model.pgolf")
    assert res["bytes_model"] != summary["bytes_model"]  # another export of the same weights
    assert abs(res["val_bpb"] - summary["pre_quant_val_bpb"]) < 0.05


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pgolf: error:") and "checkpoint.pt" in err and "\n" not in err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PgolfError, match="not a pgolf checkpoint") as e:
        export_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(e.value)


def test_export_help_teaches_with_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert "pgolf export runs/<id>" in out and "--json" in out
