"""Result files and the README built from them."""

import json

import torch

from pgolf.bench.results import device_slug, load_all, record, render_readme, save


def _step(preset, created, step_ms, device="cpu"):
    doc = record("step", torch.device("cpu"), f"pgolf bench step --preset {preset}",
                 dict(preset=preset, overrides=[], result=dict(params=10, step_ms=step_ms, tokens_per_s=1000 / step_ms,
                                                                mfu=None, peak_memory_bytes=2**20), projection=None))
    doc["created"] = created
    doc["machine"]["device"] = device
    return doc


def test_save_names_and_latest_per_device(tmp_path):
    results = tmp_path / "results"
    p1 = save(_step("tiny", "2026-11-20T10:00:00+00:00", 50.0), results, "step-tiny")
    p2 = save(_step("tiny", "2026-11-20T11:00:00+00:00", 40.0), results, "step-tiny")
    save(_step("tiny", "2026-11-21T11:00:00+00:00", 7.0, device="h100"), results, "step-tiny")
    assert p1.name == "2026-11-20_cpu_step-tiny.json" and p2.name == "2026-11-20_cpu_step-tiny-2.json"
    (results / "notes.json").write_text("{not json")  # ignored, never fatal
    assert len(load_all(results)) == 3
    readme = (tmp_path / "README.md").read_text()
    assert readme == render_readme(results)
    cpu, h100 = readme.split("## cpu")[1].split("## h100")[0], readme.split("## h100")[1]
    assert "| 40.0 |" in cpu and "| 50.0 |" not in cpu  # only the latest per preset
    assert "| 7.0 |" in h100


def test_record_fields():
    doc = record("proxy", torch.device("cpu"), "pgolf bench proxy ...", dict(rows=[]), label="my box")
    assert doc["machine"]["label"] == "my box" and doc["machine"]["device"] == device_slug(torch.device("cpu")) == "cpu"
    for key in ("torch", "cuda", "cpu_threads", "python"):
        assert key in doc["machine"]
    assert doc["commit"] and doc["created"][:2] == "20"
    json.dumps(doc)


def test_proxy_table_in_readme_and_readme_command(tmp_path, capsys):
    from pgolf.cli import main

    ok = dict(recipe="tiny", rank=1, steps=12, tokens_seen=12_288, tokens_per_s=5000.0, peak_memory_bytes=None,
              pre_quant_val_bpb=3.5, val_bpb=3.51, bytes_total=150_000)
    doc = record("proxy", torch.device("cpu"), "pgolf bench proxy --recipe tiny --recipe 'tiny x=1'",
                 dict(seconds=5, rows=[ok, dict(recipe="tiny x=1", error="boom")]))
    save(doc, tmp_path / "results", "proxy")
    (tmp_path / "README.md").unlink()
    assert main(["bench", "readme", "--results-dir", str(tmp_path / "results")]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "| 1 | `tiny` | 12 | 12,288 | 5,000 | – | 3.5000 | 3.5100 | 150,000 |" in readme
    assert "| – | `tiny x=1` | failed: boom |" in readme
    assert main(["bench"]) == 2 and "SUBCOMMAND" in capsys.readouterr().out
