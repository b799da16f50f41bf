"""`pgolf submit`: one record folder from several seed runs of one configuration.

``YYYY-MM-DD_Name/`` gets the packed ``train_gpt.py``, the model file of the first run, every
seed's log as ``train_seed<S>.log``, ``submission.json``, ``requirements.txt`` and a ``README.md``
whose compliance statements are generated from `pgolf check` verdicts on the folder itself.
The folder is built under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from pgolf.config import Config, recipe_of
from pgolf.errors import PgolfError
from pgolf.io import atomic_path
from pgolf.referee.records import SeedLog, parse_log

TRACK = "10min_16mb"
MODEL_NAME = "model.pgolf"
REQUIREMENTS = "# beyond the challenge's base image (torch)\nnumpy\nsentencepiece\n"


@dataclass
class SeedRun:
    run_dir: Path
    config: dict
    summary: dict
    log: SeedLog
    log_text: str
    artifact: Path

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def env(self, key: str) -> str | None:
        first = self.log_text.splitlines()[0] if self.log_text else ""
        if key == "gpu":
            m = re.search(r"\bgpu:(.*?) cpu_threads:", first)
        else:
            m = re.search(rf"(?:^|\s){key}:(\S+)", first)
        return m.group(1) if m else None


def load_run(run_dir: str | Path) -> SeedRun:
    d = Path(run_dir)
    for name in ("config.json", "summary.json", "train.log"):
        if not (d / name).is_file():
            raise PgolfError(f"{d}: not a finished run folder (no {name})")
    try:
        config = json.loads((d / "config.json").read_text())
        summary = json.loads((d / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PgolfError(f"{d}: cannot read config.json / summary.json ({e})") from None
    artifact = d / Path(summary.get("artifact") or MODEL_NAME).name
    if not artifact.is_file():
        raise PgolfError(f"{d}: model file {artifact.name} is missing")
    text = (d / "train.log").read_text(encoding="utf-8", errors="replace")
    log = parse_log(d / "train.log")
    if log.val_bpb is None:
        raise PgolfError(f"{d / 'train.log'}: no final val_bpb line (did the run finish?)")
    return SeedRun(d, config, summary, log, text, artifact)


def _code_difference(this: Path, other: Path) -> str:
    """How train_gpt.py ``this`` differs from ``other`` (the recipe keys or the modules), or ""."""
    from pgolf.pack.diff import describe_files

    return describe_files(this, other) if this.is_file() and other.is_file() else ""


def check_same(runs: list[SeedRun]) -> None:
    """Refuse runs of differing config or code, and repeated seeds, saying exactly what differs."""
    from pgolf.pack.diff import dict_differences, listed

    first = runs[0]
    for r in runs[1:]:
        diff = dict_differences(recipe_of(r.config), recipe_of(first.config))
        if diff:
            raise PgolfError(f"{r.run_dir}: config differs from {first.run_dir} (its value vs the first's): "
                             + listed(diff))
        code = _code_difference(r.run_dir / "train_gpt.py", first.run_dir / "train_gpt.py")
        if first.log.code_version != r.log.code_version:
            raise PgolfError(f"{r.run_dir}: code version {r.log.code_version} differs from {first.run_dir}'s "
                             f"{first.log.code_version}" + (f"; its train_gpt.py differs in {code}" if code else ""))
        if code:
            order = " (its value vs the first's)" if " vs " in code else ""
            raise PgolfError(f"{r.run_dir / 'train_gpt.py'} differs from {first.run_dir / 'train_gpt.py'} "
                             f"in {code}{order}")
    seeds = [r.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise PgolfError(f"seeds repeat: {seeds} (each run must be an independent seed)")


def packed_code(run: SeedRun, dest: Path) -> Path:
    """The run's own train_gpt.py (the file whose bytes it counted), else the one `pgolf pack` writes."""
    from pgolf.pack import pack_run

    own = run.run_dir / "train_gpt.py"
    if own.is_file():
        shutil.copyfile(own, dest)
        return dest
    return pack_run(run.run_dir, dest)


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.+-]+", "", name.replace(" ", "_"))
    if not s:
        raise PgolfError(f"--name {name!r} has no letters or digits for a folder name")
    return s


def _r(x: float | None, k: int = 8) -> float | None:
    return None if x is None else round(float(x), k)


def seed_result(run: SeedRun, code_bytes: int) -> dict:
    lg = run.log
    model = lg.model_bytes if lg.model_bytes is not None else int(run.summary["bytes_model"])
    return {"val_loss": _r(lg.val_loss), "val_bpb": _r(lg.val_bpb), "artifact_bytes": code_bytes + model,
            "steps": lg.steps, "step_avg_ms": lg.step_avg_ms, "eval_time_s": _r(lg.eval_s, 3)}


def hardware(run: SeedRun) -> str:
    world = run.env("world_size") or "1"
    gpu = run.env("gpu")
    if gpu and gpu != "None":
        return f"{world}x{gpu}"
    return f"{world}x CPU ({run.env('cpu_threads') or '?'} threads)"


def build_submission(runs: list[SeedRun], name: str, author: str, github_id: str, blurb: str,
                     code_bytes: int, when: dt.datetime) -> dict:
    results = {str(r.seed): seed_result(r, code_bytes) for r in runs}
    bpbs = [r["val_bpb"] for r in results.values()]
    losses = [r["val_loss"] for r in results.values()]
    return {
        "author": author, "github_id": github_id, "name": name, "blurb": blurb,
        "date": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "track": TRACK,
        "val_loss": _r(statistics.mean(losses)), "val_bpb": _r(statistics.mean(bpbs)),
        "val_loss_std": _r(statistics.stdev(losses)) if len(losses) > 1 else 0.0,
        "val_bpb_std": _r(statistics.stdev(bpbs)) if len(bpbs) > 1 else 0.0,
        "seeds": [r.seed for r in runs], "seed_results": results,
        "bytes_total": max(r["artifact_bytes"] for r in results.values()), "bytes_code": code_bytes,
        "hardware": hardware(runs[0]), "pytorch_version": runs[0].env("torch") or "unknown",
        "code_version": runs[0].log.code_version, "model_file_seed": runs[0].seed,
    }


def config_overrides(cfg: dict) -> list[str]:
    """key=value for every field that differs from the Config defaults (per-run fields left out)."""
    base = Config().to_dict()
    return [f"{k}={v}" for k, v in sorted(recipe_of(cfg).items()) if base.get(k) != v]


def data_note(config: dict) -> list[str]:
    """Where the packed train_gpt.py looks for its data, and how to put it there."""
    from pgolf.pack.builder import run_defaults

    run = run_defaults(config)
    return [f"`train_gpt.py` reads the shards from `DATA_PATH` (default `{run['data_path']}`) and the tokenizer "
            f"from `TOKENIZER_PATH` (default `{run['tokenizer_path']}`), as `pgolf data fetch --dest data` lays "
            "them out; `SEED` and `RUN_ID` pick the run, everything else is the recipe in the file."]


def readme(sub: dict, runs: list[SeedRun], report: dict) -> str:
    from pgolf.referee.verdict import PASS

    world = runs[0].env("world_size") or "1"
    over = [shlex.quote(kv) for kv in config_overrides(runs[0].config)]
    lines = [f"# {sub['name']}", "", f"By {sub['author']} (@{sub['github_id']}), {sub['date'][:10]}.", ""]
    if sub["blurb"]:
        lines += [sub["blurb"], ""]
    lines += [f"**val_bpb {sub['val_bpb']:.5f}** (std {sub['val_bpb_std']:.5f}) and val_loss {sub['val_loss']:.5f} "
              f"over {len(runs)} seed(s), on {sub['hardware']} with PyTorch {sub['pytorch_version']}, "
              f"code version `{sub['code_version']}`.", "",
              "## Per seed", "",
              "| seed | val_bpb | val_loss | steps | train s | eval s | artifact bytes |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        res = sub["seed_results"][str(r.seed)]
        train_s = f"{r.log.train_ms / 1000:.1f}" if r.log.train_ms is not None else "?"
        eval_s = f"{res['eval_time_s']:.1f}" if res["eval_time_s"] is not None else "?"
        lines.append(f"| {r.seed} | {res['val_bpb']:.8f} | {res['val_loss']:.8f} | {res['steps']} | {train_s} | "
                     f"{eval_s} | {res['artifact_bytes']:,} |")
    model = runs[0].artifact.stat().st_size
    lines += ["", "## Bytes", "",
              f"- `train_gpt.py`: {sub['bytes_code']:,} bytes; `{MODEL_NAME}` (seed {runs[0].seed}): {model:,} bytes",
              f"- largest artifact over the seeds: {sub['bytes_total']:,} bytes of the 16,000,000 cap", "",
              "## Reproduce", "", *data_note(runs[0].config), "", "```",
              *(f"SEED={r.seed} torchrun --standalone --nproc_per_node={world} train_gpt.py" for r in runs),
              "```", "", "or with pgolf (each seed a fresh `pgolf train`, run folders ready for `pgolf submit`):",
              "", "```", " ".join(["pgolf train", *over, f"--seeds {','.join(str(r.seed) for r in runs)}",
                                  *([f"--nproc-per-node {world}"] if world != "1" else [])]), "```", "",
              "## Compliance (generated by `pgolf check` on this folder)", ""]
    for v in report["rules"]:
        if v["status"] == PASS:
            lines.append(f"- {v['rule']}: {v['detail']}")
    unchecked = [v for v in report["rules"] if v["status"] != PASS]
    if unchecked:
        lines += ["", "Not claimed:", ""]
        lines += [f"- {v['rule']} ({v['status']}): {v['detail']}" for v in unchecked]
    return "\n".join(lines) + "\n"


def submit(run_dirs: list[str | Path], name: str, author: str, github_id: str,
           out: str | Path = "records/track_10min_16mb", blurb: str = "", force: bool = False,
           when: dt.datetime | None = None) -> tuple[Path, dict]:
    from pgolf.referee.check import check_folder

    if not run_dirs:
        raise PgolfError("submit: give at least one run folder")
    runs = [load_run(d) for d in run_dirs]
    check_same(runs)
    when = when or dt.datetime.now(dt.timezone.utc)
    final = Path(out) / f"{when.strftime('%Y-%m-%d')}_{slug(name)}"
    if final.exists() and not force:
        raise PgolfError(f"{final}: already exists (pass --force to replace it)")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        code = packed_code(runs[0], tmp / "train_gpt.py").stat().st_size
        shutil.copyfile(runs[0].artifact, tmp / MODEL_NAME)
        for r in runs:
            shutil.copyfile(r.run_dir / "train.log", tmp / f"train_seed{r.seed}.log")
        sub = build_submission(runs, name, author, github_id, blurb, code, when)
        (tmp / "submission.json").write_text(json.dumps(sub, indent=2) + "\n")
        (tmp / "requirements.txt").write_text(REQUIREMENTS)
        (tmp / "README.md").write_text(f"# {name}\n")
        report = check_folder(tmp)
        (tmp / "README.md").write_text(readme(sub, runs, report))
        if final.exists():  # --force: the old folder goes only once the new one is complete
            shutil.rmtree(final)
    report["folder"] = str(final)
    return final, report
