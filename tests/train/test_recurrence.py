"""The trainer decides depth recurrence and passes it to the model's forward each step; it never
sets anything on the model."""

from __future__ import annotations

from pgolf.config import load_config
from pgolf.dist import DistContext
from pgolf.optim.schedule import loop_enabled
from pgolf.train.trainer import Trainer, schedule_budget_ms


def _trainer(small_data, tmp_path, **kw) -> Trainer:
    data, tok = small_data
    cfg = load_config("tiny", data_path=str(data), tokenizer_path=str(tok), out_dir=str(tmp_path),
                      train_seq_len=16, train_batch_tokens=64, iterations=6, num_layers=4,
                      loop_start=1, loop_end=2, loop_extra=1, **kw)
    return Trainer(cfg, DistContext())


def _spy(tr: Trainer) -> list:
    seen = []
    tr.net.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs["looping"]), with_kwargs=True)
    return seen


def _plain_attributes(model) -> dict:
    """The model's own attributes, apart from its parameters, buffers and submodules."""
    return {k: v for k, v in vars(model).items() if not k.startswith("_")}


def test_recurrence_switches_on_at_loop_enable_frac_through_the_forward(small_data, tmp_path, one_thread):
    tr = _trainer(small_data, tmp_path, loop_enable_frac=0.5)
    seen, before = _spy(tr), _plain_attributes(tr.model)
    for s in range(tr.cfg.iterations):
        tr.step(s, 0.0)
    want = [loop_enabled(tr.cfg, s, 0.0, schedule_budget_ms(tr.cfg)) for s in range(tr.cfg.iterations)]
    assert want == [False, False, False, True, True, True]
    assert seen == [w for w in want for _ in range(tr.accum)]  # every micro-batch of the step
    after = _plain_attributes(tr.model)
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)


def test_warmup_runs_both_graphs_then_starts_unlooped(small_data, tmp_path, one_thread):
    tr = _trainer(small_data, tmp_path, loop_enable_frac=0.9)
    seen = _spy(tr)
    tr.warmup_and_reset(4)
    assert seen == [w for w in (False, False, True, True) for _ in range(tr.accum)] and tr.looping is False
    tr.step(0, 0.0)
    assert seen[-1] is False
