"""tracker=tensorboard and tracker=wandb mirror a tiny run; metrics.jsonl stays the record."""

from __future__ import annotations

import json
import struct

import pytest

from pgolf.cli import main
from pgolf.config import load_config
from pgolf.errors import PgolfError


def _tiny_run(tmp_path, small_data, run_id: str, *extra: str):
    data, tok = small_data
    args = ["train", "--preset", "tiny", f"data_path={data}", f"tokenizer_path={tok}", f"out_dir={tmp_path}",
            f"run_id={run_id}", "val_loss_every=3", *extra]
    assert main(args) == 0
    run_dir = tmp_path / run_id
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run_dir, rows, json.loads((run_dir / "summary.json").read_text())


def test_tensorboard_mirrors_the_run(tmp_path, small_data, one_thread):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, rows, summary = _tiny_run(tmp_path, small_data, "tb", "tracker=tensorboard")
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    for key in ("train_loss", "val_bpb", "val_loss"):
        want = [(r["step"], r[key]) for r in rows if key in r]
        got = [(e.step, e.value) for e in acc.Scalars(key)]
        assert [s for s, _ in got] == [s for s, _ in want] and want
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)  # stored as float32
    assert acc.Scalars("summary/val_bpb")[0].value == pytest.approx(summary["val_bpb"], rel=1e-6)
    tags = acc.Tags()["tensors"]  # text summaries are stored as tensors
    assert {"config/text_summary", "summary/text_summary"} <= set(tags)


def read_wandb_records(path):
    """The protobuf records of a W&B transaction log (.wandb): a 7-byte header, then 32 KiB
    blocks of LevelDB-log records (crc32 4 bytes, length 2, type 1: full/first/middle/last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        pending += data[pos + 7:pos + 7 + n]
        pos += 7 + n
        if kind in (1, 4):  # a full record, or the last piece of one
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
            pending = b""
    return records


def _items(items) -> dict:
    """{key: value} of W&B history, config or summary items (the key may come as a nested path)."""
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}


def _finished_log(log, patience: float = 120.0):
    """The records of a W&B log once its writer is done: W&B's service process writes the file
    after ``run.finish()`` returns, so wait (a hang guard, not a speed test) for its exit record."""
    import time

    deadline = time.monotonic() + patience
    while True:
        records = read_wandb_records(log)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def test_wandb_offline_mirrors_the_run(tmp_path, small_data, one_thread):
    pytest.importorskip("wandb")
    run_dir, rows, summary = _tiny_run(tmp_path, small_data, "wb", "tracker=wandb", "wandb_project=pgolf-test")
    (offline,) = (run_dir / "wandb").glob("offline-run-*")  # offline by default: no network, synced later
    (log,) = offline.glob("run-*.wandb")
    records = _finished_log(log)
    history = [_items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    for key in ("train_loss", "val_bpb"):
        want = [(r["step"], r[key]) for r in rows if key in r]
        got = [(h["_step"], h[key]) for h in history if key in h]
        assert got == want and want  # JSON round trip: exact
    config = {}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update(_items(r.config.update))
    assert config["seed"] == 1337 and config["tracker"] == "wandb" and config["run_id"] == "wb"
    final = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            final.update(_items(r.summary.update))
    assert final["val_bpb"] == summary["val_bpb"] and final["steps"] == summary["steps"] == 6


def test_tracker_setting_is_checked_and_needs_the_command_line(tmp_path, small_data):
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    with pytest.raises(PgolfError, match="tracker='mlflow'; choose from none, tensorboard, wandb"):
        load_config("tiny", tracker="mlflow")
    with pytest.raises(PgolfError, match="wandb_mode"):
        load_config("tiny", wandb_mode="cloud")
    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), tracker="tensorboard")
    with pytest.raises(PgolfError, match="pgolf train"):
        train_and_export(cfg, {}, packed_code)
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


def test_the_packed_file_carries_no_tracker_plot_or_doctor():
    from pgolf.pack.collect import discover

    bundled = set(discover())
    assert "pgolf.train.runlog" in bundled
    assert not {m for m in bundled if m in ("pgolf.train.tracker", "pgolf.doctor") or m.startswith("pgolf.report")}
