"""`pgolf leaderboard`: sorted table, deltas, best over time, a valid PNG."""

from __future__ import annotations

import pytest

from pgolf.cli import main
from pgolf.referee.leaderboard import best_over_time, collect
from pgolf.report.plots import BOARD_SIZE
from tests.png import png_info
from tests.referee.kit import make_record


def _records(root):
    make_record(root / "2026-03-17_A", bpbs=(1.2244, 1.2250, 1.2238), submission={"author": "A", "date": "2026-03-17"})
    make_record(root / "2026-03-20_B", bpbs=(1.1500, 1.1510, 1.1490), submission={"author": "B", "date": "2026-03-20"})
    make_record(root / "2026-03-25_C", bpbs=(1.1800, 1.1810, 1.1790), submission={"author": "C", "date": "2026-03-25"})
    (root / "not_a_record").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "submission.json").write_text("{not json")
    return root


def test_table_sorted_with_deltas(tmp_path):
    rows = collect(_records(tmp_path))
    assert [r["author"] for r in rows] == ["B", "C", "A"]
    assert rows[0]["delta"] is None and abs(rows[1]["delta"] - 0.03) < 1e-9
    assert [r["author"] for r in best_over_time(rows)] == ["A", "B"]


def test_cli_writes_markdown_and_png(tmp_path, capsys):
    root = _records(tmp_path / "records")
    md, png = tmp_path / "board.md", tmp_path / "board.png"
    assert main(["leaderboard", str(root), "--md", str(md)]) == 0
    assert "skipped" in capsys.readouterr().err and "broken" not in md.read_text()
    text = md.read_text()
    assert text.splitlines()[2].startswith("| 1 | 1.1500 |") and "| B |" in text
    pytest.importorskip("matplotlib")
    assert main(["leaderboard", str(root), "--png", str(png)]) == 0
    w, h, meta = png_info(png)
    assert (w, h) == BOARD_SIZE and meta["Software"].lower().startswith("matplotlib")
