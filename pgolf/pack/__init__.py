"""`pgolf pack`: the submission's single-file ``train_gpt.py``, generated from this package.

Contract (used by the referee): ``pack_run(run_dir, out_path) -> Path`` writes the packed file
for the run in ``run_dir`` (which holds ``config.json``) and returns its path.
"""

from __future__ import annotations

from pathlib import Path


def pack_run(run_dir: str | Path, out_path: str | Path) -> Path:
    """Write ``train_gpt.py`` for the run in ``run_dir``; ``out_path`` is a file or a folder."""
    from pgolf.config import Config
    from pgolf.errors import PgolfError
    from pgolf.pack.builder import write_packed

    cfg_path = Path(run_dir) / "config.json"
    if not cfg_path.is_file():
        raise PgolfError(f"{run_dir}: not a run folder (no config.json)")
    out = Path(out_path)
    if out.suffix != ".py":
        out = out / "train_gpt.py"
    return write_packed(Config.load(cfg_path).to_dict(), out)


__all__ = ["pack_run"]
