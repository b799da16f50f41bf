"""`bench proxy` on CPU: recipes, the val cut, and one equal-time run end to end."""

import json
import math
import sys

import numpy as np
import pytest

from pgolf.bench.proxy import _train_child, cut_val, parse_recipe, prepare_data
from pgolf.cli import main
from pgolf.data.paths import resolve_data
from pgolf.data.shards import read_shard
from pgolf.errors import PgolfError
from tests.conftest import MINI, MINI_DATASET


def test_parse_recipe():
    r = parse_recipe("tiny num_layers=3")
    assert r.preset == "tiny" and r.overrides == {"num_layers": "3"} and r.cfg.num_layers == 3
    for bad, word in [("", "empty"), ("nope", "unknown preset"), ("tiny num_layer=3", "num_layers"),
                      ("tiny max_wallclock_seconds=9", "proxy controls"), ("tiny 'x", "recipe")]:
        with pytest.raises(PgolfError, match=word):
            parse_recipe(bad)


def test_cut_val_keeps_whole_documents():
    t = np.array([1, 5, 6, 1, 7, 1, 8, 9], dtype=np.uint16)
    assert cut_val(t, 5).tolist() == [1, 5, 6, 1, 7]  # the document starting at 5 would not fit
    assert cut_val(t, 4).tolist() == [1, 5, 6]
    assert cut_val(t, 2).tolist() == [1, 5]  # a first document longer than the limit is cut
    assert cut_val(t, 0) is t and cut_val(t, 100) is t


def test_prepare_data_links_train_and_cuts_val(tmp_path):
    ds, tok = prepare_data(MINI, tmp_path, 1024, val_tokens=5000)
    assert resolve_data(ds, 1024) == (ds, tok)
    val = read_shard(ds / "fineweb_val_000000.bin")
    full = read_shard(MINI_DATASET / "fineweb_val_000000.bin")
    assert 0 < len(val) <= 5000 and val.tolist() == full[: len(val)].tolist() and full[len(val)] == 1
    assert all((ds / f.name).resolve() == f.resolve() for f in MINI_DATASET.glob("fineweb_train_*.bin"))
    assert prepare_data(MINI, tmp_path, 1024)[0] == MINI_DATASET


def test_proxy_end_to_end(tmp_path, capsys):
    results = tmp_path / "bench" / "results"
    args = ["bench", "proxy", "--recipe", "tiny", "--seconds", "1",
            "--val-tokens", "4096", "--data", str(MINI), "--out", str(tmp_path / "proxy"), "--json",
            "--save", "--results-dir", str(results)]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["kind"] == "proxy" and doc["seconds"] == 1 and doc["val_tokens"] == 4096
    (ok,) = doc["rows"]
    assert ok["rank"] == 1 and ok["recipe"] == "tiny" and ok["steps"] >= 1
    assert ok["tokens_seen"] == ok["steps"] * 1024
    assert ok["tokens_per_s"] == pytest.approx(ok["tokens_seen"] / ok["train_seconds"])
    assert ok["bytes_total"] == ok["bytes_model"] + ok["bytes_code"] and not ok["over_cap"]
    assert math.isfinite(ok["val_bpb"]) and math.isfinite(ok["pre_quant_val_bpb"])
    assert ok["val_bpb"] == ok["in_process_val_bpb"]  # fresh process agrees with training's round trip
    cut = read_shard(tmp_path / "proxy" / "data" / "datasets" / "fineweb10B_sp1024" / "fineweb_val_000000.bin")
    assert ok["target_tokens"] == len(cut) - 1
    assert ok["peak_memory_bytes"] > 0
    summary = json.loads((tmp_path / "proxy" / "runs" / "01-tiny" / "summary.json").read_text())
    assert summary["steps"] == ok["steps"]
    saved = list(results.glob("*_cpu_proxy.json"))
    assert len(saved) == 1
    assert "| 1 | `tiny` |" in (results.parent / "README.md").read_text()


def test_failed_child_gives_its_last_error_line():
    code, last = _train_child([sys.executable, "-c", "import sys; print('x', file=sys.stderr); sys.exit('boom')"],
                              1.0, "t", progress=False)
    assert code == 1 and last == "boom"


@pytest.mark.parametrize("extra, word", [(["--dp-efficiency", "2"], "dp-efficiency"), (["--seconds", "0"], "seconds"),
                                         (["--recipe", "tiny vocab_size=512"], "vocab sizes")])
def test_bad_arguments_fail_before_training(tmp_path, capsys, extra, word):
    args = ["bench", "proxy", "--recipe", "tiny", "--seconds", "1", "--out", str(tmp_path / "p"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf: error:") and err.count("\n") == 1 and word in err
    assert not (tmp_path / "p").exists()


def test_prepare_data_cuts_a_byte_sidecar_with_val(tmp_path):
    caseops = MINI.parent.parent / "fineweb-mini-caseops" / "datasets"
    ds, tok = prepare_data(caseops, tmp_path, 8192, val_tokens=5000)
    val = read_shard(ds / "fineweb_val_000000.bin")
    side = read_shard(ds / "fineweb_val_bytes_000000.bin")
    src = resolve_data(caseops, 8192)[0]
    assert 0 < len(val) <= 5000 and len(side) == len(val)
    assert side.tolist() == read_shard(src / "fineweb_val_bytes_000000.bin")[: len(val)].tolist()
    assert tok.name.endswith(".model") and resolve_data(ds, 8192)[0] == ds
