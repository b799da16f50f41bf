"""The stream and BOS-aligned train loaders (the packed one: test_packed_loader.py)."""

import numpy as np
import torch

from pgolf.data.loader import BatchLoader, DocAlignedLoader
from tests.conftest import MINI_DATASET

CPU = torch.device("cpu")


def test_same_global_batch_on_any_world_size():
    """world 1 with 4 micro-steps and world 2 with 2 see the same tokens in the same order."""
    cpu = torch.device("cpu")
    one = BatchLoader(str(MINI_DATASET), 0, 1)
    seq, global_tokens = 16, 256
    ranks = [BatchLoader(str(MINI_DATASET), r, 2) for r in range(2)]
    for _ in range(3):  # three optimizer steps
        ref = torch.cat([one.next_batch(global_tokens // 4, seq, cpu)[0] for _ in range(4)])
        two = [torch.cat([ranks[r].next_batch(global_tokens // 4, seq, cpu)[0] for _ in range(2)]) for r in range(2)]
        assert sorted(map(tuple, ref.tolist())) == sorted(map(tuple, torch.cat(two).tolist()))


def test_targets_are_inputs_shifted():
    loader = BatchLoader(str(MINI_DATASET), 0, 1)
    x, y = loader.next_batch(64, 16, torch.device("cpu"))
    flat_x, flat_y = x.reshape(-1).numpy(), y.reshape(-1).numpy()
    assert np.array_equal(flat_x[1:], flat_y[:-1])
    assert x[0, 0].item() == 1  # the stream starts with a BOS


def test_stream_wraps_across_shards():
    loader = BatchLoader(str(MINI_DATASET), 0, 1)
    n0 = len(loader.stream.tokens)
    loader.stream.take(n0 - 5)
    chunk = loader.stream.take(10)
    assert len(chunk) == 10 and loader.stream.file_idx == 1



def test_every_sequence_starts_at_a_bos_and_targets_shift():
    loader = DocAlignedLoader(str(MINI_DATASET), 0, 1)
    for _ in range(3):
        x, y = loader.next_batch(256, 32, CPU)
        assert x.shape == y.shape == (8, 32)
        assert (x[:, 0] == 1).all()
        assert torch.equal(x[:, 1:], y[:, :-1])
    plain = BatchLoader(str(MINI_DATASET), 0, 1)
    plain.next_batch(256, 32, CPU)
    assert not (plain.next_batch(256, 32, CPU)[0][:, 0] == 1).all()  # the plain loader does not align


def test_aligned_batches_are_the_same_on_any_world_size():
    one = DocAlignedLoader(str(MINI_DATASET), 0, 1)
    ranks = [DocAlignedLoader(str(MINI_DATASET), r, 2) for r in range(2)]
    for _ in range(2):
        ref = torch.cat([one.next_batch(64, 16, CPU)[0] for _ in range(4)])
        two = [torch.cat([ranks[r].next_batch(64, 16, CPU)[0] for _ in range(2)]) for r in range(2)]
        assert sorted(map(tuple, ref.tolist())) == sorted(map(tuple, torch.cat(two).tolist()))


def test_alignment_crosses_shards():
    loader = DocAlignedLoader(str(MINI_DATASET), 0, 1)
    loader.stream.pos = len(loader.stream.tokens) - 3  # no BOS left in shard 0
    x, _ = loader.next_batch(32, 16, CPU)
    assert loader.stream.file_idx == 1 and (x[:, 0] == 1).all()
