"""The packed train loader (``train_loader=packed``) against the record's ``DocumentPackingLoader``,
and the attention segments of its rows against the record's ``cu_seqlens``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pgolf.data.loader import PackedLoader
from pgolf.data.segments import cu_seqlens, segment_ids
from pgolf.data.shards import write_shard
from pgolf.errors import PgolfError
from pgolf.model.masks import build_mask
from tests.conftest import REPO

CPU = torch.device("cpu")
CASEOPS = (REPO / ".." / "shared" / "fineweb-mini-caseops" / "datasets" / "datasets"
           / "fineweb10B_sp8192_lossless_caps_caseops_v1_reserved").resolve()
BOS = 1


def _docs(rng, n_tokens: int, mean_len: int, lead: int = 0) -> np.ndarray:
    """Documents ``[BOS, ids...]`` back to back; ``lead`` tokens of a document's tail first."""
    out = [rng.integers(2, 500, lead)]
    while sum(map(len, out)) < n_tokens:
        out.append(np.concatenate([[BOS], rng.integers(2, 500, int(rng.integers(1, 2 * mean_len)))]))
    return np.concatenate(out)[:n_tokens].astype(np.uint16)


@pytest.fixture()
def synthetic(tmp_path) -> Path:
    """Four train shards: a normal one, one that starts inside a document, one too small for a
    step, one with a document longer than the attention cap."""
    rng = np.random.default_rng(0)
    shards = [_docs(rng, 5000, 60), _docs(rng, 4000, 40, lead=37), _docs(rng, 300, 20), _docs(rng, 3000, 300)]
    shards[3][100:1200] = rng.integers(2, 500, 1100)  # one 1,100-token document (at least)
    for i, t in enumerate(shards):
        write_shard(tmp_path / f"fineweb_train_{i:06d}.bin", t)
    write_shard(tmp_path / "fineweb_val_000000.bin", shards[0][:100])
    return tmp_path


@pytest.fixture()
def record_loader(record_script, monkeypatch):
    """A factory of the record's loader for (data dir, rank, world, seq_len) on CPU (no pinned memory)."""
    empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, pin_memory=False, **k: empty(*a, **k))
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)

    def make(data: Path, rank: int, world: int, seq_len: int):
        import types

        h = types.SimpleNamespace(rank=rank, world_size=world, train_seq_len=seq_len,
                                  train_files=str(data / "fineweb_train_*.bin"))
        return record_script.DocumentPackingLoader(h, CPU)

    return make


def _spans(loader: PackedLoader, local: int, steps: int) -> list[np.ndarray]:
    """The token spans (inputs + last target) of ``steps`` steps of every micro-batch."""
    out = []
    for _ in range(steps * loader.spans_per_step // loader.world):
        x, y = loader.next_batch(local, 16, CPU)
        assert x.shape == y.shape == (1, local) and torch.equal(x[0, 1:], y[0, :-1])
        out.append(np.append(x[0].numpy(), y[0, -1].item()))
    return out


@pytest.mark.parametrize("world", [1, 2, 4])
def test_batches_and_segments_are_the_records(synthetic, record_loader, world):
    """Same inputs, targets and cu_seqlens as the record's loader, rank by rank, across shards
    (and around the pass) with one micro-step per rank as the record runs on 8 GPUs."""
    local, cap = 96, 64
    ours = [PackedLoader(str(synthetic), r, world, bos_id=BOS) for r in range(world)]
    theirs = [record_loader(synthetic, r, world, cap) for r in range(world)]
    wrapped = False
    for step in range(2 * 12_000 // (world * (local + 1))):  # about two passes over the shards
        wrapped |= step > 0 and ours[0].file_idx == 0 and ours[0].cursor <= world * (local + 1)
        for r in range(world):
            x, y = ours[r].next_batch(local, cap, CPU)
            rx, ry, rcu, rmax = theirs[r]._prepare_batch(local, cap)
            assert torch.equal(x[0], rx) and torch.equal(y[0], ry), (step, r)
            cu, _ = cu_seqlens(x[0], BOS, cap)
            assert torch.equal(cu, rcu[: len(cu)]) and (rcu[len(cu):] == local).all(), (step, r)
            assert int((cu[1:] - cu[:-1]).max()) == rmax
    assert wrapped


def test_one_pass_uses_every_token_once(synthetic):
    """Over a pass each shard's tokens from its first BOS are used once, in order, up to a tail
    shorter than a step; a shard too small for a step is skipped; then the pass starts again."""
    local, per_step = 50, 4
    need = per_step * (local + 1)
    loader = PackedLoader(str(synthetic), 0, 1, bos_id=BOS, spans_per_step=per_step)
    shards = [np.fromfile(f, dtype="<u2", offset=1024) for f in sorted(synthetic.glob("fineweb_train_*.bin"))]
    expected, dropped = [], 0
    for t in shards:
        first = int(np.flatnonzero(t == BOS)[0])
        n = (len(t) - first) // need
        expected.append(t[first : first + n * need])
        dropped += len(t) - n * need
        assert len(t) - first - n * need < need
    n_steps = sum(len(e) for e in expected) // need
    used = np.concatenate(_spans(loader, local, n_steps))
    assert np.array_equal(used, np.concatenate(expected))
    assert len(used) + dropped == sum(map(len, shards))
    again = np.concatenate(_spans(loader, local, 1))
    assert np.array_equal(again, expected[0][:need])  # the next pass starts where the first did


def test_one_pass_of_the_mini_caseops_shard_uses_every_token_once():
    (shard,) = sorted(CASEOPS.glob("fineweb_train_*.bin"))
    tokens = np.fromfile(shard, dtype="<u2", offset=1024)
    local, per_step = 4096, 8
    need = per_step * (local + 1)
    loader = PackedLoader(str(CASEOPS), 0, 1, spans_per_step=per_step)
    n_steps = len(tokens) // need
    used = np.concatenate(_spans(loader, local, n_steps))
    assert tokens[0] == BOS and np.array_equal(used, tokens[: n_steps * need])
    assert len(tokens) - len(used) < need  # only the tail that does not fill a step


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_partition_each_step(synthetic, world):
    """World 1 with 4 micro-steps and world 2 or 4: the same spans per step, none shared."""
    local, per_step = 40, 4
    one = PackedLoader(str(synthetic), 0, 1, bos_id=BOS, spans_per_step=per_step)
    ranks = [PackedLoader(str(synthetic), r, world, bos_id=BOS, spans_per_step=per_step) for r in range(world)]
    for _ in range(30):
        ref = _spans(one, local, 1)
        got = [_spans(rl, local, 1) for rl in ranks]
        for r in range(world):  # rank r's micro-step m is span m * world + r
            for m, span in enumerate(got[r]):
                assert np.array_equal(span, ref[m * world + r])


def test_no_attention_across_a_bos_and_a_mid_document_start(synthetic):
    """The model's document mask on packed rows: no query sees a key before its document's BOS;
    a row that starts inside a document treats its first tokens as one document, as the record
    does; with the cap, the mask from ``segment_ids`` is the record's varlen mask exactly."""
    loader = PackedLoader(str(synthetic), 0, 1, bos_id=BOS)
    seen_mid, seen_cut = False, False
    for _ in range(60):
        x, _ = loader.next_batch(128, 32, CPU)
        ids = x[0]
        mask = build_mask(x, True, 0, BOS, backend="sdpa")[0, 0]
        q, k = torch.nonzero(mask, as_tuple=True)
        bos_at = torch.cumsum(ids == BOS, 0)
        assert torch.equal(bos_at[q], bos_at[k]) and (q >= k).all()
        seen_mid |= bool(ids[0] != BOS)
        for cap in (0, 32):
            seg = segment_ids(ids, BOS, cap)
            cu, _ = cu_seqlens(ids, BOS, cap)
            varlen = torch.zeros(len(ids), len(ids), dtype=torch.bool)
            for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
                varlen[a:b, a:b] = torch.ones(b - a, b - a).tril().bool()
            causal_same = (seg[:, None] == seg[None, :]) & torch.ones_like(varlen).tril()
            assert torch.equal(causal_same, varlen)
            if cap == 0:
                assert torch.equal(causal_same, mask)
            else:
                seen_cut |= not torch.equal(causal_same, mask)
    assert seen_mid and seen_cut  # both cases occurred in these batches


def test_a_step_that_fits_no_shard_is_a_one_line_error(synthetic):
    loader = PackedLoader(str(synthetic), 0, 1, bos_id=BOS)
    with pytest.raises(PgolfError, match="no train shard holds one step"):
        loader.next_batch(6000, 16, CPU)


def test_reset_starts_the_pass_again(synthetic):
    loader = PackedLoader(str(synthetic), 0, 2, bos_id=BOS, spans_per_step=4)
    first = _spans(loader, 30, 3)
    loader.reset()
    assert all(np.array_equal(a, b) for a, b in zip(first, _spans(loader, 30, 3)))
