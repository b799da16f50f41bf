"""Real run folders from the tiny preset: two seeds and one wider model, on the short mini data."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, small_data):
    from pgolf.config import load_config
    from pgolf.export import train_and_export
    from pgolf.pack.builder import packed_code

    data, tok = small_data
    out = tmp_path_factory.mktemp("runs")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run_id, kw in (("seed1", dict(seed=1)), ("seed2", dict(seed=2)), ("wide", dict(seed=1, model_dim=64))):
            cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(out), run_id=run_id,
                              iterations=6, val_loss_every=3, **kw)
            train_and_export(cfg, {}, packed_code, echo=False)
    finally:
        torch.set_num_threads(before)
    return [out / name for name in ("seed1", "seed2", "wide")]
