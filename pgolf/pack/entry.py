"""What the packed ``train_gpt.py`` runs: its per-run defaults and recipe, then the environment, then train."""

from __future__ import annotations

import sys
from typing import Any

from pgolf.artifact import size
from pgolf.config import Config, apply_overrides, env_overrides, validate
from pgolf.errors import PgolfError
from pgolf.train.trainer import train


def config_for(recipe: dict[str, Any], run_defaults: dict[str, Any], environ: dict[str, str]) -> Config:
    """Config defaults, then the file's per-run defaults and recipe, then the environment (SEED=...)."""
    cfg = apply_overrides(apply_overrides(Config(), run_defaults), recipe)
    return validate(apply_overrides(cfg, env_overrides(environ)))


def main(recipe: dict[str, Any], run_defaults: dict[str, Any], environ: dict[str, str], packed_file: str) -> int:
    size.PACKED_FILE = packed_file  # code bytes are this file's real bytes
    try:
        train(config_for(recipe, run_defaults, environ), environ, progress=False, echo=True)
    except PgolfError as e:  # bad input is one line, as `pgolf` prints it
        print(f"train_gpt.py: error: {e}", file=sys.stderr)
        return 2
    return 0
