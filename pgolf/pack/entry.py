"""What the packed ``train_gpt.py`` runs: the run's config, then the environment, then train."""

from __future__ import annotations

from typing import Any

from pgolf.artifact import size
from pgolf.config import Config, apply_overrides, env_overrides
from pgolf.train.loop import train


def main(run_config: dict[str, Any], environ: dict[str, str], packed_file: str) -> int:
    size.PACKED_FILE = packed_file  # code bytes are this file's real bytes
    cfg = apply_overrides(apply_overrides(Config(), run_config), env_overrides(environ))
    train(cfg, environ, progress=False, echo=True)
    return 0
