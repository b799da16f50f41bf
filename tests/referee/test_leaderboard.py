"""`pgolf leaderboard`: sorted table, deltas, best over time, a valid PNG."""

from __future__ import annotations

import struct
import zlib

from pgolf.cli import main
from pgolf.referee.leaderboard import best_over_time, collect
from tests.referee.kit import make_record


def _records(root):
    make_record(root / "2026-03-17_A", bpbs=(1.2244, 1.2250, 1.2238), submission={"github_id": "A", "date": "2026-03-17"})
    make_record(root / "2026-03-20_B", bpbs=(1.1500, 1.1510, 1.1490), submission={"github_id": "B", "date": "2026-03-20"})
    make_record(root / "2026-03-25_C", bpbs=(1.1800, 1.1810, 1.1790), submission={"github_id": "C", "date": "2026-03-25"})
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
    assert main(["leaderboard", str(root), "--md", str(md), "--png", str(png)]) == 0
    assert "skipped" in capsys.readouterr().err and "broken" not in md.read_text()
    text = md.read_text()
    assert text.splitlines()[2].startswith("| 1 | 1.1500 |") and "| B |" in text
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_len])
    assert len(raw) == h * (1 + 3 * w)
    assert len(set(raw)) > 3  # something was drawn
