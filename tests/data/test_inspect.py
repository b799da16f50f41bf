"""`pgolf data inspect` on the mini mirror and on a fetch."""

from __future__ import annotations

import json

from pgolf.cli import main
from pgolf.data.fetch import fetch
from pgolf.data.inspect import inspect


def test_inspect_json_on_the_mirror(mini, capsys):
    assert main(["data", "inspect", str(mini), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {k: res["val"][k] for k in ("docs", "tokens", "target_tokens", "bytes")} == {
        "docs": 901, "tokens": 1_040_060, "target_tokens": 1_040_059, "bytes": 2_504_310}
    assert res["train"]["docs"] == 9881 and res["train"]["target_tokens"] == res["train"]["tokens"] - 1
    assert abs(res["val"]["tokens_per_byte"] - 1_040_059 / 2_504_310) < 1e-6


def test_inspect_a_fetch_without_train(tmp_path, mini, capsys):
    fetch(train_shards=0, dest=tmp_path, mirror=mini, progress=False)
    res = inspect(tmp_path)
    assert res["val"]["bytes"] == 2_504_310 and res["train"]["tokens"] == 0
    assert main(["data", "inspect", str(tmp_path)]) == 0
    assert "2,504,310" in capsys.readouterr().out
