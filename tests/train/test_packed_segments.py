"""The trainer hands the packed loader's attention segments to the model: documents are cut every
``train_seq_len`` tokens inside a packed row, as the record's training run cuts them."""

from __future__ import annotations

import torch

from pgolf.config import load_config
from pgolf.data.segments import cu_seqlens
from pgolf.dist import DistContext
from pgolf.train.trainer import Trainer


def _trainer(small_data, tmp_path, **kw) -> Trainer:
    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path),
                      train_loader="packed", doc_isolation=True, train_seq_len=16, train_batch_tokens=512, **kw)
    return Trainer(cfg, DistContext())


def test_packed_rows_train_with_segments_cut_at_train_seq_len(small_data, tmp_path, one_thread):
    tr = _trainer(small_data, tmp_path)
    seen = []
    tr.net.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args[0].clone(), kwargs)), with_kwargs=True)
    tr.step(0, 0.0)
    assert len(seen) == tr.accum
    for x, kw in seen:
        assert x.shape == (1, tr.local_tokens)
        want, _ = cu_seqlens(x, 1, 16, bucket=64)
        assert torch.equal(kw["cu_seqlens"], want) and kw["max_seqlen"] == 16
        lens = (want[1:] - want[:-1])
        assert int(lens.max()) <= 16 and int(lens.sum()) == x.numel()


def test_the_cut_changes_the_loss_of_long_documents(small_data, tmp_path, one_thread):
    tr = _trainer(small_data, tmp_path)
    x, y, cu = tr.loader.next_packed(tr.local_tokens, 16, torch.device("cpu"))
    assert len(torch.unique(cu)) - 1 > int((x == 1).sum()) + 1  # some document was longer than 16 tokens
    with torch.no_grad():
        for p in tr.model.parameters():  # zero-initialised output projections would hide attention
            p.add_(0.1 * torch.randn_like(p))
        cut = tr.model(x, y, cu_seqlens=cu, max_seqlen=16)
        whole = tr.model(x, y)
    assert not torch.allclose(cut, whole)


def test_other_loaders_leave_segments_to_the_model(small_data, tmp_path):
    assert _trainer(small_data, tmp_path).packed_segments
    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path), doc_isolation=True)
    assert not Trainer(cfg, DistContext()).packed_segments
