"""Experiment trackers that mirror a run folder: ``tracker=tensorboard`` or ``tracker=wandb``.

Each tracker receives every ``metrics.jsonl`` row and the ``config.json`` and ``summary.json``
that :class:`pgolf.train.runlog.RunLog` writes, and writes them into the tool's own format
inside the run folder:

- TensorBoard: event files in ``runs/<id>/tensorboard/`` (``tensorboard --logdir runs``); one
  scalar per metric at its step, the config and the summary as text, the summary's numbers as
  ``summary/<key>`` scalars.
- Weights & Biases: a run in ``runs/<id>/wandb/``, offline by default (``wandb_mode=offline``:
  no network; ``wandb sync runs/<id>/wandb/offline-run-*`` uploads it later); the metrics as
  history, the config as the run's config, the summary as its summary.

``metrics.jsonl`` stays the record of the run: nothing reads a tracker back. Only the command
line opens a tracker (it passes :func:`open_tracker` to ``train``), so the packed
``train_gpt.py`` never carries this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from pgolf.errors import PgolfError

INSTALL = "pip install 'pgolf[track]'"


def _numbers(fields: dict) -> dict[str, float]:
    return {k: float(v) for k, v in fields.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoardMirror:
    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise PgolfError(f"tracker=tensorboard needs the tensorboard package: {INSTALL}") from None
        self.log_dir = Path(run_dir) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def metric(self, fields: dict) -> None:
        step = int(fields.get("step", 0))
        for key, value in _numbers(fields).items():
            self.writer.add_scalar(key, value, step)

    def json(self, name: str, obj) -> None:
        tag = Path(name).stem  # config, summary
        self.writer.add_text(tag, "```\n" + json.dumps(obj, indent=2, sort_keys=True) + "\n```")
        if tag == "summary" and isinstance(obj, dict):
            for key, value in _numbers(obj).items():
                self.writer.add_scalar(f"summary/{key}", value, int(obj.get("steps", 0)))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbMirror:
    def __init__(self, cfg, run_dir: Path):
        try:
            import wandb
        except ImportError:
            raise PgolfError(f"tracker=wandb needs the wandb package: {INSTALL}") from None
        settings = wandb.Settings(console="off", silent=True, x_disable_stats=True, disable_git=True,
                                  save_code=False, x_save_requirements=False)
        self.run = wandb.init(project=cfg.wandb_project, name=cfg.run_id, dir=str(run_dir),
                              mode=cfg.wandb_mode, config=cfg.to_dict(), settings=settings)
        self.step = 0

    def metric(self, fields: dict) -> None:
        self.step = int(fields.get("step", 0))
        self.run.log(_numbers(fields), step=self.step)

    def json(self, name: str, obj) -> None:
        if not isinstance(obj, dict):
            return
        if name == "config.json":
            self.run.config.update(obj, allow_val_change=True)
        elif name == "summary.json":
            # commit the last history step first: committing it later would overwrite the summary's
            # val_bpb (the artifact's score) with the last logged one (before quantization)
            self.run.log({}, step=self.step, commit=True)
            self.run.summary.update(obj)

    def close(self) -> None:
        self.run.finish()


def open_tracker(cfg, run_dir: Path):
    """The mirror ``cfg.tracker`` names, writing into ``run_dir``; None for ``tracker=none``."""
    if cfg.tracker == "tensorboard":
        return TensorBoardMirror(run_dir)
    if cfg.tracker == "wandb":
        return WandbMirror(cfg, run_dir)
    return None
