"""`pgolf train --seeds A,B,C`: one recipe, several seeds, one after another, ready for `pgolf submit`.

Each seed is a fresh `python -m pgolf train` process (under `torchrun` with ``--nproc-per-node``)
given the same preset, ``--smoke`` and ``key=value`` overrides plus ``seed=S`` and
``run_id=<base>-seed<S>``: exactly the run a single `pgolf train` makes, sharing no process state
with the other seeds. Every run packs the same ``train_gpt.py`` (the seed is a per-run field), so
the folders submit together. At the end: per-seed scores, the mean and sample standard
deviation, and the significance line (against ``--against-bpb`` / ``--against`` when given).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from pgolf.config import validate
from pgolf.errors import PgolfError

ALPHA = 0.01


def parse_seeds(text: str) -> list[int]:
    """``"1337,42,2025"`` -> [1337, 42, 2025]; repeats and non-integers are one-line errors."""
    try:
        seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise PgolfError(f"--seeds {text!r}: give integers separated by commas, e.g. 1337,42,2025") from None
    if not seeds:
        raise PgolfError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise PgolfError(f"--seeds {text!r}: a seed repeats (each run must be an independent seed)")
    return seeds


def seed_command(args, seed: int, run_id: str) -> list[str]:
    """The `pgolf train` command line of one seed (under torchrun with ``--nproc-per-node``)."""
    train = ["-m", "pgolf", "train", "--preset", args.preset, *(["--smoke"] if args.smoke else []),
             *args.overrides, f"seed={seed}", f"run_id={run_id}"]
    if args.nproc_per_node > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={args.nproc_per_node}", *train]
    return [sys.executable, *train]


def upper_bound(values: list[float], alpha: float = ALPHA) -> float | None:
    """The one-sided (1 - alpha) upper confidence bound of the mean (None for one value)."""
    from pgolf.referee.stats import t_cdf

    n = len(values)
    if n < 2:
        return None
    lo, hi = 0.0, 1e3  # t quantile by bisection of the CDF
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, n - 1) < 1 - alpha else (lo, mid)
    return statistics.mean(values) + hi * statistics.stdev(values) / math.sqrt(n)


def _child_env() -> dict[str, str]:
    """Our environment less torchrun's rank variables (a child launches its own ranks)."""
    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}


def run_seeds(args, seeds: list[int], stdout=None) -> dict:
    """Train every seed in turn; the per-seed results, their mean and std, and the statistics."""
    from pgolf.cmdline import config_from_args
    from pgolf.train.runlog import new_run_id

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise PgolfError("--seeds launches its own runs: call it outside torchrun and pass --nproc-per-node N")
    given = {kv.split("=", 1)[0].strip().lower() for kv in args.overrides if "=" in kv}
    if "seed" in given:
        raise PgolfError("give the seeds with --seeds only, not also seed=")
    # a bad setting fails here, before any run
    cfg = validate(config_from_args(args).replace(seed=seeds[0]), args.nproc_per_node)
    base = cfg.run_id or new_run_id()
    runs = []
    for i, seed in enumerate(seeds, 1):
        run_id = f"{base}-seed{seed}"
        cmd = seed_command(args, seed, run_id)
        print(f"[{i}/{len(seeds)}] seed {seed}: {shlex.join(cmd[1:])}", file=sys.stderr, flush=True)
        code = subprocess.run(cmd, env=_child_env(), stdout=stdout).returncode
        run_dir = Path(cfg.out_dir) / run_id
        if code != 0 or not (run_dir / "summary.json").is_file():
            done = ", ".join(r["run_dir"] for r in runs) or "none"
            raise PgolfError(f"seed {seed} failed (exit {code}); finished runs: {done}")
        s = json.loads((run_dir / "summary.json").read_text())
        runs.append(dict(seed=seed, run_dir=str(run_dir), val_bpb=s["val_bpb"], val_loss=s["val_loss"],
                         bytes_total=s["bytes_total"], steps=s["steps"], train_seconds=s["train_seconds"]))
    return summarize(runs, getattr(args, "against", None), getattr(args, "against_bpb", None))


def summarize(runs: list[dict], against: str | None = None, against_bpb: float | None = None) -> dict:
    """Mean, sample std, tokens per byte, the upper bound and (with a reference) significance."""
    bpb = [r["val_bpb"] for r in runs]
    loss = [r["val_loss"] for r in runs]
    tpb = statistics.mean(b * math.log(2) / l for b, l in zip(bpb, loss))
    res = dict(seeds=[r["seed"] for r in runs], runs=runs, n=len(runs),
               mean_bpb=statistics.mean(bpb), std_bpb=statistics.stdev(bpb) if len(bpb) > 1 else None,
               mean_loss=statistics.mean(loss), std_loss=statistics.stdev(loss) if len(loss) > 1 else None,
               tokens_per_byte=tpb, upper_bound_bpb=upper_bound(bpb), alpha=ALPHA, stats=None,
               submit="pgolf submit " + " ".join(shlex.quote(r["run_dir"]) for r in runs)
               + " --name NAME --author 'A. Person' --github-id GITHUB_ID")
    if against is not None or against_bpb is not None:
        from pgolf.referee.check import reference_from
        from pgolf.referee.stats import significance

        ref_bpb, ref_seeds, _ = reference_from(against, against_bpb)
        res["stats"] = significance(bpb, ref_bpb, tpb, ref_seeds)
    return res


def _f(x: float | None, places: int = 5) -> str:
    return "n/a" if x is None else f"{x:.{places}f}"


def report(res: dict) -> str:
    """The text `pgolf train --seeds` prints at the end."""
    lines = [f"{res['n']} seed(s) of one recipe:"]
    for r in res["runs"]:
        lines.append(f"  seed {r['seed']:>6}  val_bpb {r['val_bpb']:.8f}  val_loss {r['val_loss']:.8f}  "
                     f"bytes_total {r['bytes_total']:,}  {r['run_dir']}")
    lines.append(f"mean val_bpb {res['mean_bpb']:.5f}  std {_f(res['std_bpb'])}  (val_loss {res['mean_loss']:.5f} "
                 f"std {_f(res['std_loss'])}; sample std, n {res['n']})")
    st = res["stats"]
    if st is not None:
        p = lambda x: "n/a" if x is None else f"{x:.4g}"  # noqa: E731
        lines.append(f"stats: vs {st['reference_bpb']:.5f}: p(mean < {st['threshold_bpb']:.5f}, 0.005-nat margin) = "
                     f"{p(st['p_margin_nats'])}, p(0.005-BPB margin) = {p(st['p_margin_bpb'])}, "
                     f"seeds needed for p < {st['alpha']}: {st['seeds_needed'] or 'never at this gain'}")
    elif res["upper_bound_bpb"] is not None:
        margin = 0.005 / math.log(2) * res["tokens_per_byte"]
        lines.append(f"stats: mean < {res['upper_bound_bpb']:.5f} at p < {res['alpha']} (one-sided t, n {res['n']}); "
                     f"beats a reference above {res['upper_bound_bpb'] + margin:.5f} by 0.005 nats "
                     f"(--against-bpb X for the full test)")
    else:
        lines.append("stats: one seed has no spread; run at least 2 (the record rule asks for several)")
    lines.append(f"next: {res['submit']}")
    return "\n".join(lines)
