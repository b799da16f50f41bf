"""What the commands share: the config arguments (--preset, --smoke, key=value, and the official
environment variables such as NUM_LAYERS), and the other environment variables they read. The
one place the command line looks at the environment, so the stages below take plain arguments."""

from __future__ import annotations

import argparse
import os

from pgolf.config import PRESETS, env_overrides, load_config, parse_kv


def add_config_args(p: argparse.ArgumentParser) -> None:
    """--preset, --smoke and key=value overrides: shared by every command that trains."""
    p.add_argument("--preset", default="baseline", choices=sorted(PRESETS), help="starting config (default: baseline)")
    p.add_argument("--smoke", action="store_true", help="shrink the preset to tiny dims and a few steps, keeping every feature on")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="any Config field, e.g. num_layers=4 seed=7")


def config_from_args(args, environ: dict[str, str] | None = None):
    """Preset, then official env vars (NUM_LAYERS=...), then key=value: the later wins."""
    environ = os.environ if environ is None else environ
    kv = dict(env_overrides(environ))
    kv.update(parse_kv(args.overrides))
    return load_config(args.preset, smoke=args.smoke, **kv)


def hub_mirror() -> str | None:
    """The local hub mirror named by PGOLF_HUB_MIRROR, if any."""
    return os.environ.get("PGOLF_HUB_MIRROR") or None


def hub_location() -> tuple[str | None, str | None]:
    """The hub repo and root folder named by the official download script's environment
    (MATCHED_FINEWEB_REPO_ID, MATCHED_FINEWEB_REMOTE_ROOT_PREFIX); None where unset."""
    return os.environ.get("MATCHED_FINEWEB_REPO_ID") or None, os.environ.get("MATCHED_FINEWEB_REMOTE_ROOT_PREFIX")
