"""`pgolf plot` and the leaderboard plot: PNGs drawn by matplotlib, of a fixed pixel size."""

from __future__ import annotations

import json
import sys

import pytest

from pgolf.cli import main
from pgolf.errors import PgolfError
from pgolf.report.curves import differing_keys, labels, read_run
from tests.png import png_info

pytest.importorskip("matplotlib")


def test_read_run_and_labels(tiny_runs):
    runs = [read_run(p) for p in tiny_runs]
    a = runs[0]
    assert [s for s, _, _ in a.train] == list(range(1, 7))  # tiny logs every step
    assert [s for s, _, _ in a.val] == [3, 6]
    assert all(t2 >= t1 for (_, t1, _), (_, t2, _) in zip(a.train, a.train[1:]))  # training time only grows
    assert a.summary["steps"] == 6 and a.config["seed"] == 1
    assert differing_keys([r.config for r in runs]) == ["model_dim", "seed"]
    assert labels(runs) == ["seed1 (model_dim=32, seed=1)", "seed2 (model_dim=32, seed=2)",
                            "wide (model_dim=64, seed=1)"]
    assert labels(runs[:1]) == ["seed1"]


def test_differing_keys_counts_a_missing_key_as_different():
    assert differing_keys([{"a": 1, "b": 2, "run_id": "x"}, {"a": 1, "run_id": "y"}]) == ["b"]
    assert differing_keys([{"a": [1, 2]}, {"a": [1, 2]}]) == []


def test_plot_command_writes_a_matplotlib_png(tiny_runs, tmp_path, capsys):
    from pgolf.report.plots import CURVES_SIZE

    out = tmp_path / "curves.png"
    assert main(["plot", *map(str, tiny_runs), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["png"] == str(out) and res["labels"][2] == "wide (model_dim=64, seed=1)"
    w, h, text = png_info(out)
    assert (w, h) == CURVES_SIZE == (res["width"], res["height"])
    assert text["Software"].lower().startswith("matplotlib")
    assert not list(tmp_path.glob(".*tmp*"))  # written under a temporary name, then renamed


def test_plot_errors_are_one_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgolf: error:") and err.count("\n") == 1 and "no metrics.jsonl" in err
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_loss": 5.0}\nnot json\n')
    with pytest.raises(PgolfError, match=r"metrics.jsonl:2"):
        read_run(tmp_path)


def test_without_matplotlib_the_plot_says_how_to_install(tiny_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    assert main(["plot", str(tiny_runs[0]), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pgolf[plots]'" in err
    assert not (tmp_path / "x.png").exists()


def test_leaderboard_png(tmp_path):
    from pgolf.report.plots import BOARD_SIZE, best_over_time_png

    rows = [dict(date="2026-03-18", name="Baseline", val_bpb=1.2244), dict(date="2026-03-20", name="B", val_bpb=1.15),
            dict(date="2026-03-25", name="C" * 80, val_bpb=1.18)]
    out = best_over_time_png(rows, rows[:2], tmp_path / "board.png")
    w, h, text = png_info(out)
    assert (w, h) == BOARD_SIZE and text["Software"].lower().startswith("matplotlib")
    with pytest.raises(PgolfError, match="no dated records"):
        best_over_time_png([], [], tmp_path / "none.png")
