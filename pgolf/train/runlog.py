"""Run folders and their logs: `train.log` in the official line style, `metrics.jsonl`, JSON files.

Only the main rank writes; other ranks get a RunLog that does nothing. ``metrics.jsonl`` is the
record of a run; an optional ``mirror`` (an experiment tracker, see ``train/tracker.py``) is
handed every metric row and every JSON file as they are written, and never read back.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from pgolf.io import atomic_write


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def code_version(root: Path | None = None) -> str:
    """The git commit of the package source (with '+dirty' for local edits), or 'unknown'."""
    root = root or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
    }
    return env


def write_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True, echo: bool = True, mirror=None, log_name: str = "train.log"):
        """``mirror``: None, or an object with ``metric(fields)``, ``json(name, obj)`` and ``close()``."""
        self.run_dir, self.enabled, self.echo = Path(run_dir), enabled, echo
        self.mirror = mirror if enabled else None
        if enabled:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._log = open(self.run_dir / log_name, "a", encoding="utf-8")
            self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        self._log.write(text + "\n")
        self._log.flush()
        if self.echo:
            print(text, file=sys.stdout, flush=True)

    def metric(self, **fields) -> None:
        if self.enabled:
            self._metrics.write(json.dumps(fields, sort_keys=True) + "\n")
            self._metrics.flush()
            if self.mirror is not None:
                self.mirror.metric(fields)

    def json(self, name: str, obj) -> None:
        if self.enabled:
            write_json(self.run_dir / name, obj)
            if self.mirror is not None:
                self.mirror.json(name, obj)

    def close(self) -> None:
        if self.enabled:
            self._log.close()
            self._metrics.close()
            if self.mirror is not None:
                self.mirror.close()
