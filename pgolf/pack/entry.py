"""What the packed ``train_gpt.py`` runs: its per-run defaults and recipe, then the environment, then train."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pgolf.config import Config, apply_overrides, env_overrides, validate
from pgolf.errors import PgolfError
from pgolf.export import train_and_export


def config_for(recipe: dict[str, Any], run_defaults: dict[str, Any], environ: dict[str, str]) -> Config:
    """Config defaults, then the file's per-run defaults and recipe, then the environment (SEED=...)."""
    cfg = apply_overrides(apply_overrides(Config(), run_defaults), recipe)
    return validate(apply_overrides(cfg, env_overrides(environ)))


def main(recipe: dict[str, Any], run_defaults: dict[str, Any], environ: dict[str, str], packed_file: str) -> int:
    def code(cfg, write_to=None):  # the code bytes are this file's real bytes; it carries no packer
        return Path(packed_file).stat().st_size, sorted(m for m in sys.modules if m.startswith("pgolf."))

    try:
        train_and_export(config_for(recipe, run_defaults, environ), environ, code, progress=False, echo=True)
    except PgolfError as e:  # bad input is one line, as `pgolf` prints it
        print(f"train_gpt.py: error: {e}", file=sys.stderr)
        return 2
    return 0
