import numpy as np
import torch

from pgolf.data.loader import BatchLoader
from tests.conftest import MINI_DATASET


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
