"""The shard format: round trip, and a one-line error naming the file for each kind of damage."""

from __future__ import annotations

import numpy as np
import pytest

from pgolf.cli import main
from pgolf.data.shards import HEADER_BYTES, MAGIC, read_header, read_shard, write_shard
from pgolf.errors import PgolfError


def _good(tmp_path, n=100):
    tokens = (np.arange(n) * 7 % 1024).astype(np.uint16)
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, tokens)
    return path, tokens


def test_round_trip_and_exact_layout(tmp_path):
    path, tokens = _good(tmp_path)
    raw = path.read_bytes()
    assert len(raw) == HEADER_BYTES + 2 * len(tokens)
    header = np.frombuffer(raw[:HEADER_BYTES], dtype="<i4")
    assert header[:3].tolist() == [MAGIC, 1, len(tokens)] and not header[3:].any()
    assert np.array_equal(read_shard(path, vocab_size=1024), tokens)


def _damage(path, kind):
    raw = bytearray(path.read_bytes())
    if kind == "truncated":
        return bytes(raw[:-3])
    if kind == "short header":
        return bytes(raw[:100])
    if kind == "magic":
        raw[0:4] = np.int32(123).tobytes()
    if kind == "version":
        raw[4:8] = np.int32(2).tobytes()
    if kind == "size":
        raw[8:12] = np.int32(99).tobytes()
    if kind == "token":
        raw[HEADER_BYTES + 10:HEADER_BYTES + 12] = np.uint16(5000).tobytes()
    return bytes(raw)


@pytest.mark.parametrize("kind, words", [
    ("truncated", "truncated"), ("short header", "truncated header"), ("magic", "wrong magic"),
    ("version", "version 2"), ("size", "too long"), ("token", "token 5000 at position 5"),
])
def test_each_damage_is_named(tmp_path, kind, words):
    path, _ = _good(tmp_path)
    path.write_bytes(_damage(path, kind))
    with pytest.raises(PgolfError) as e:
        read_shard(path, vocab_size=1024)
    assert str(path) in str(e.value) and words in str(e.value)


def test_cli_reports_a_bad_shard_in_one_line(tmp_path, mini, capsys):
    path, _ = _good(tmp_path)
    path.write_bytes(_damage(path, "magic"))
    assert main(["data", "inspect", str(tmp_path), "--tokenizer", str(mini / "tokenizers/fineweb_1024_bpe.model")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pgolf: error:") and str(path) in err
    assert "Traceback" not in err


def test_header_only_read_is_cheap(tmp_path):
    path, tokens = _good(tmp_path, n=10)
    assert read_header(path) == 10


def test_byte_sidecars_are_never_token_shards(tmp_path):
    """``fineweb_val_bytes_*.bin`` matches the loose glob ``fineweb_val_*.bin``; every listing skips it."""
    from pgolf.data.shards import is_shard, load_split, shard_files, shard_name
    from pgolf.data.sidecar import check_pairs, is_sidecar, sidecar_files, sidecar_name

    tokens = np.array([1, 5, 6, 1, 7], dtype=np.uint16)
    write_shard(tmp_path / shard_name("val", 0), tokens)
    write_shard(tmp_path / sidecar_name("val", 0), np.array([0, 1, 2, 0, 3]))
    write_shard(tmp_path / shard_name("train", 0), tokens)
    assert sorted(p.name for p in tmp_path.glob("fineweb_val_*.bin")) == ["fineweb_val_000000.bin",
                                                                          "fineweb_val_bytes_000000.bin"]
    assert [p.name for p in shard_files(tmp_path, "val")] == ["fineweb_val_000000.bin"]
    assert [p.name for p in sidecar_files(tmp_path, "val")] == ["fineweb_val_bytes_000000.bin"]
    assert load_split(tmp_path, "val").tolist() == tokens.tolist()
    assert is_shard("fineweb_val_000000.bin", "val") and not is_shard("fineweb_val_bytes_000000.bin")
    assert is_sidecar("fineweb_val_bytes_000000.bin", "val") and not is_sidecar("fineweb_val_000000.bin")
    assert check_pairs(tmp_path, "val") == 1
    write_shard(tmp_path / sidecar_name("val", 0), np.array([0, 1]))
    with pytest.raises(PgolfError, match="2 entries for the 5 tokens of fineweb_val_000000.bin"):
        check_pairs(tmp_path, "val")
