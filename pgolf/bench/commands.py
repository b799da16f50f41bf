"""`pgolf bench step | proxy | readme`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from pgolf.errors import PgolfError

MINI_MIRROR = "../shared/fineweb-mini/datasets"  # the mini data beside a checkout (as in the Makefile)


def pick_data(given: str | None, *fallbacks: str | None) -> str:
    """--data, else the first fallback that exists: the run's data_path, $PGOLF_HUB_MIRROR, the mini mirror."""
    if given:
        return given
    from pgolf.cmdline import hub_mirror

    for cand in (*fallbacks, hub_mirror(), MINI_MIRROR):
        if cand and Path(cand).exists():
            return cand
    raise PgolfError(f"no data found: pass --data (tried $PGOLF_HUB_MIRROR and {MINI_MIRROR})")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="dataset folder or fetch root (see the description for the default)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--save", action="store_true", help="write bench/results/<date>_<device>_<what>.json and bench/README.md")
    p.add_argument("--results-dir", default="bench/results", help="where --save writes (default: bench/results)")
    p.add_argument("--label", default="", help="machine label stored with the result, e.g. '2-core CPU, shared'")
    p.add_argument("--dp-efficiency", type=float, default=None,
                   help="data-parallel efficiency assumed by the 8×H100 projection (default: 0.90)")


def register(sub) -> None:
    bench = sub.add_parser(
        "bench", help="measure: step time and MFU, equal-time recipe proxy, 8×H100 projection",
        description="Measurements that end up in the repo: `bench step` times the real training step, "
        "`bench proxy` ranks recipes trained for the same wall time, and every GPU result comes with "
        "a projection to 8×H100 in 600 s. See docs/bench.md for the protocol.",
    )
    bsub = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    bench.set_defaults(func=lambda args: bench.print_help() or 2)

    from pgolf.cmdline import add_config_args

    p = bsub.add_parser(
        "step", help="steady-state step time, tokens/s, MFU and peak memory of a preset",
        description="Build the preset's model and optimizers at their real size on this device (CUDA: bf16 "
        "autocast and torch.compile as in training; CPU: fp32), run --warmup untimed steps, then time "
        "--steps optimizer steps of the full global batch (all micro-batches on this one device). "
        "Reports ms/step, tokens/s, model FLOPs per token (6*N_matmul + 6*L*d*(T+1)), MFU against "
        "the device's dense bf16 peak (H100 SXM 989.4, H100 PCIe 756, H100 NVL 835, H200 989.4, "
        "A100 312 TFLOPS; CPU: none unless --peak-tflops), peak memory, and on a GPU the projection "
        "to 8×H100 in 600 s. Data: --data, else the preset's data_path, $PGOLF_HUB_MIRROR, or "
        f"{MINI_MIRROR}.",
        epilog="examples:\n  pgolf bench step --preset tiny --steps 5\n"
        "  pgolf bench step --preset cpu-demo --save --label '2-core CPU'\n"
        "  pgolf bench step --preset baseline --data data --save      # on one H100\n"
        "  pgolf bench step --preset baseline compile=off --json\n"
        "On a shared CPU set OMP_NUM_THREADS=1: spinning OpenMP threads can make steps many times slower.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, allocations; default: 3)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak to compute MFU against (overrides the table)")
    _common(p)
    p.set_defaults(func=run_step)

    p = bsub.add_parser(
        "proxy", help="train recipes for the same wall time, export, evaluate fresh, rank",
        description="Each --recipe \"PRESET key=value ...\" is trained by `pgolf train` in its own process "
        "for --seconds of training clock (compile warm-up and evaluation are not counted) on the same "
        "data, its artifact is exported and then scored by `pgolf eval` in a fresh process. The table "
        "has one row per recipe: steps, tokens seen, tokens/s, peak memory, val_bpb before and after "
        "quantization, artifact bytes; rank 1 = lowest post-quantization val_bpb. Data: --data, else "
        f"$PGOLF_HUB_MIRROR, else the mini mirror {MINI_MIRROR}. Run folders go to --out.",
        epilog="examples:\n"
        "  pgolf bench proxy --recipe tiny --recipe 'tiny num_layers=3' --seconds 5 --val-tokens 8192\n"
        "  pgolf bench proxy --recipe cpu-demo --recipe 'cpu-demo mlp_mult=3' --seconds 60 --save\n"
        "  pgolf bench proxy --recipe baseline --recipe 'baseline num_layers=11' --seconds 300 --save  # one GPU\n"
        "On a shared CPU set OMP_NUM_THREADS=1 (the training processes inherit it).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recipe", action="append", required=True, metavar="'PRESET [key=value ...]'",
                   help="'PRESET [key=value ...]': a preset and Config overrides, quoted as one argument; "
                   "repeat for each recipe")
    p.add_argument("--seconds", type=float, required=True, help="training wall-clock seconds per recipe")
    p.add_argument("--val-tokens", type=int, default=0,
                   help="score only the first whole val documents up to N tokens (default: all of val)")
    p.add_argument("--out", help="folder for the run folders (default: runs/bench-proxy-<time>)")
    _common(p)
    p.set_defaults(func=run_proxy)

    p = bsub.add_parser(
        "gpu", help="the GPU evidence in one prepared run (tests, bench step, official script side by side, record run)",
        description="One run of at most --budget seconds (default 480) on one GPU, each phase in its own process\n"
        "with its own timeout, a failed phase never stopping the next: the GPU tests (pytest -m gpu), bench\n"
        "step of baseline and record at full size, the official root train_gpt.py and `pgolf train --preset\n"
        "baseline` for the same steps, a short record run on the mini CaseOps data with its artifact bytes and\n"
        "the size model's prediction. --out receives one JSON per measurement, gpu-check.log and\n"
        "gpu-logs.tar.gz (at most 8 files, no folders: what the device tool brings back).\n"
        "--prepare gathers what the GPU machine needs into the git-ignored .gpu/ (mini data, the official\n"
        "script, wheels the GPU image lacks) and checks it fits the device tool's 64 MiB; --collect copies a\n"
        "GPU run's results into bench/results and regenerates bench/README.md. docs/bench.md has the call.",
        epilog="examples:\n  pgolf bench gpu --prepare                       # CPU side, before the GPU run\n"
        "  bash bench/gpu_check.sh                         # on the GPU machine (wraps `pgolf bench gpu`)\n"
        "  pgolf bench gpu --dry-run --out /tmp/gpu-dry     # the same phases on CPU, tiny dims (CI)\n"
        "  pgolf bench gpu --collect /work/.device/<files_at>   # results into bench/results + README",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--prepare", action="store_true", help="fill --data-root for the GPU machine (CPU side)")
    mode.add_argument("--collect", metavar="DIR", help="copy a GPU run's result files into --results-dir, regenerate the README")
    mode.add_argument("--dry-run", action="store_true", help="the same phases on the CPU: tiny dims, a few steps")
    p.add_argument("--out", help="results folder (default: runs/gpu-check-<time>)")
    p.add_argument("--work", help="scratch folder: run folders, val cuts, compile cache (default: a new temp folder)")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole run (default: 480)")
    p.add_argument("--only", help="comma-separated phases to run, the others skipped (e.g. official,pgolf-baseline)")
    p.add_argument("--data-root", default=".gpu", help="the prepared folder (default: .gpu; falls back to ../shared)")
    p.add_argument("--shared", default="../shared", help="--prepare: where the mini data and the reference are")
    p.add_argument("--train-shards", type=int, default=1, help="--prepare: sp1024 train shards to carry (default: 1)")
    p.add_argument("--no-wheels", action="store_true", help="--prepare: keep the wheels already there, download none")
    p.add_argument("--results-dir", default="bench/results", help="--collect: where the result files go")
    p.add_argument("--allow-dry-run", action="store_true", help="--collect: accept dry-run files (tests of the collect path)")
    p.add_argument("--label", default="", help="machine label stored with every result")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_gpu)

    p = bsub.add_parser("readme", help="regenerate bench/README.md from the result files",
                        description="Rewrite bench/README.md: the latest step result per device and preset, "
                        "and the latest proxy table per device.",
                        epilog="example: pgolf bench readme --results-dir bench/results")
    p.add_argument("--results-dir", default="bench/results", help="result files (default: bench/results)")
    p.set_defaults(func=run_readme)


def _projection(step_ms: float, cfg, device, dp_efficiency: float | None) -> dict | None:
    """The 8×H100 projection of a GPU result (None on CPU)."""
    if device.type != "cuda":
        return None
    from pgolf.bench.project import DP_EFFICIENCY, project
    from pgolf.bench.step import device_peak

    peak, _ = device_peak(device)
    return project(step_ms, cfg.train_batch_tokens, cfg.grad_accum_total, cfg.iterations, device_peak_flops=peak,
                   dp_efficiency=dp_efficiency or DP_EFFICIENCY)


def _check_efficiency(value: float | None) -> None:
    if value is not None and not 0 < value <= 1:
        raise PgolfError(f"--dp-efficiency {value:g} must be in (0, 1]")


def _save(doc: dict, args, what: str) -> None:
    from pgolf.bench.results import save

    path = save(doc, args.results_dir, what)
    doc["saved"] = str(path)
    print(f"saved {path} and {Path(args.results_dir).parent / 'README.md'}", file=sys.stderr)


def _mib(n) -> str:
    return f"{n / 2**20:,.0f} MiB"


def step_command(args) -> str:
    parts = ["pgolf", "bench", "step", "--preset", args.preset] + (["--smoke"] if args.smoke else [])
    parts += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    for flag, val in (("--peak-tflops", args.peak_tflops), ("--data", args.data), ("--dp-efficiency", args.dp_efficiency)):
        if val is not None:
            parts += [flag, str(val)]
    return shlex.join(parts + list(args.overrides))


def run_step(args) -> int:
    from pgolf.bench.project import calibrated_efficiency, describe
    from pgolf.bench.results import record
    from pgolf.bench.step import measure_step
    from pgolf.data.paths import resolve_data
    from pgolf.cmdline import config_from_args

    cfg = config_from_args(args)
    _check_efficiency(args.dp_efficiency)
    if args.warmup < 1 or args.steps < 1:
        raise PgolfError("--warmup and --steps must be at least 1")
    dataset_dir, tok = resolve_data(pick_data(args.data, cfg.data_path), cfg.vocab_size)
    cfg = cfg.replace(data_path=str(dataset_dir), tokenizer_path=str(tok or cfg.tokenizer_path))
    res = measure_step(cfg, args.warmup, args.steps, args.peak_tflops, progress=sys.stderr.isatty())
    import torch

    device = torch.device(res["device"])
    proj = _projection(res["step_ms"], cfg, device, args.dp_efficiency)
    if proj is not None and args.preset == "baseline" and not args.overrides and device.type == "cuda" \
            and "H100" in (torch.cuda.get_device_name(device)):
        proj["calibrated_dp_efficiency"] = calibrated_efficiency(res["step_ms"] * proj["h100_speed_factor"])
    doc = record("step", device, step_command(args), dict(preset=args.preset, overrides=list(args.overrides),
                 config=cfg.to_dict(), result=res, projection=proj), args.label)
    if args.save:
        _save(doc, args, f"step-{args.preset}")
    if args.json:
        print(json.dumps(doc, sort_keys=True))
        return 0
    mfu = f"{res['mfu']:.1%}" if res["mfu"] is not None else "n/a"
    print(f"bench step: preset {args.preset} on {doc['machine']['label']} ({res['dtype']}, "
          f"{'compiled' if res['compiled'] else 'eager'}), commit {doc['commit']}\n"
          f"  params {res['params']:,} (matmul {res['matmul_params']:,}); {res['flops_per_token']:,} FLOPs/token = {res['formula']}\n"
          f"  {res['step_ms']:.2f} ms/step (median {res['step_ms_median']:.2f}, min {res['step_ms_min']:.2f}, "
          f"max {res['step_ms_max']:.2f}; {res['timed_steps']} steps after {res['warmup_steps']} untimed)\n"
          f"  {res['tokens_per_s']:,.0f} tokens/s of {res['batch_tokens']:,}-token steps; achieved "
          f"{res['achieved_tflops']:.4g} TFLOPS; MFU {mfu} ({res['peak_source']})\n"
          f"  peak memory {_mib(res['peak_memory_bytes'])} ({res['peak_memory_kind']})")
    print("  " + (describe(proj) if proj else "projection to 8×H100: only from a GPU measurement (this ran on CPU)"))
    if proj and "calibrated_dp_efficiency" in proj:
        print(f"  calibration: this H100 step against the reference 43.5 ms on 8×H100 implies efficiency "
              f"{proj['calibrated_dp_efficiency']:.2f}")
    return 0


def proxy_command(args) -> str:
    parts = ["pgolf", "bench", "proxy"]
    for r in args.recipe:
        parts += ["--recipe", r]
    parts += ["--seconds", f"{args.seconds:g}"]
    for flag, val in (("--val-tokens", args.val_tokens or None), ("--data", args.data), ("--out", args.out),
                      ("--dp-efficiency", args.dp_efficiency)):
        if val is not None:
            parts += [flag, str(val)]
    return shlex.join(parts)


def run_proxy(args) -> int:
    from pgolf.bench.project import describe
    from pgolf.bench.proxy import parse_recipe, prepare_data, rank_rows, run_recipe
    from pgolf.bench.results import proxy_table, record
    from pgolf.dist import pick_device
    from pgolf.train.runlog import new_run_id

    if args.seconds <= 0:
        raise PgolfError("--seconds must be positive")
    _check_efficiency(args.dp_efficiency)
    recipes = [parse_recipe(r) for r in args.recipe]
    vocabs = {r.cfg.vocab_size for r in recipes}
    if len(vocabs) > 1:
        raise PgolfError(f"recipes use different vocab sizes {sorted(vocabs)}; one proxy compares one dataset")
    out_dir = Path(args.out or f"runs/bench-proxy-{new_run_id()}")
    source = pick_data(args.data)
    dataset_dir, tok = prepare_data(source, out_dir, vocabs.pop(), args.val_tokens)
    device = pick_device(recipes[0].cfg)
    rows = []
    for i, r in enumerate(recipes, 1):
        print(f"[{i}/{len(recipes)}] {r.text}: training {args.seconds:g}s, then a fresh-process eval", file=sys.stderr, flush=True)
        row = run_recipe(r, i, args.seconds, dataset_dir, tok, out_dir, progress=sys.stderr.isatty())
        if "error" in row:
            print(f"  failed: {row['error']}", file=sys.stderr)
        elif device.type == "cuda":
            row["projection"] = _projection(row["step_ms"], r.cfg, device, args.dp_efficiency)
        rows.append(row)
    rank_rows(rows)
    doc = record("proxy", device, proxy_command(args), dict(seconds=args.seconds, data=str(dataset_dir), data_source=source,
                 val_tokens=args.val_tokens, out_dir=str(out_dir), rows=rows), args.label)
    if args.save:
        _save(doc, args, "proxy")
    if args.json:
        print(json.dumps(doc, sort_keys=True))
    else:
        print(f"bench proxy: {len(rows)} recipes × {args.seconds:g}s on {doc['machine']['label']}, commit {doc['commit']}")
        print("\n".join(proxy_table(doc)))
        for r in rows:
            if r.get("projection"):
                print(f"{r['recipe']}: {describe(r['projection'])}")
    return 1 if any("error" in r for r in rows) else 0


def run_readme(args) -> int:
    from pgolf.bench.results import write_readme

    print(write_readme(args.results_dir))
    return 0


def run_gpu(args) -> int:
    import tempfile

    from pgolf.bench import gpu
    from pgolf.bench.gpu_prepare import prepare
    from pgolf.train.runlog import new_run_id

    repo = gpu.REPO
    if args.prepare:
        info = prepare(Path(args.data_root), Path(args.shared), repo, args.train_shards, wheels=not args.no_wheels)
        if args.json:
            print(json.dumps(info, sort_keys=True))
            return 0
        print(f"prepared {args.data_root}: {len(info['files'])} files, {info['carried_bytes']:,} bytes; with the "
              f"checkout's {info['tree_bytes']:,} bytes {info['total_bytes']:,} of the {info['limit_bytes']:,} that "
              f"may travel ({info['total_bytes'] / 2**20:.1f} MiB of {info['limit_bytes'] / 2**20:.0f} MiB)\n"
              f"wheels (not in the GPU image): {', '.join(info['wheels']) or 'none'}\ncommit {info['commit']}\n"
              f"device run: {gpu.device_invocation()}")
        return 0
    if args.collect:
        paths = gpu.collect(Path(args.collect), Path(args.results_dir), allow_dry_run=args.allow_dry_run)
        print(f"{len(paths)} result files into {args.results_dir}; rewrote {Path(args.results_dir).parent / 'README.md'}")
        return 0
    if args.budget is not None and args.budget <= 0:
        raise PgolfError("--budget must be positive")
    names = {ph.name for ph in gpu.PHASES}
    only = set(args.only.split(",")) if args.only else None
    if only and only - names:
        raise PgolfError(f"--only {','.join(sorted(only - names))}: no such phase; phases: {', '.join(ph.name for ph in gpu.PHASES)}")
    out = Path(args.out or f"runs/gpu-check-{new_run_id()}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pgolf-gpu-check-"))
    check = gpu.Check(out_dir=out, work_dir=work, data_root=Path(args.data_root), repo=repo, dry_run=args.dry_run,
                      budget_s=args.budget or gpu.BUDGET_S, label=args.label)
    summary = gpu.run_check(check, only=only)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print("\n".join(gpu.summary_lines(check)))
        print("\n".join(gpu.report_preview(check)))
    return 0 if all(r["status"] in ("ok", "skipped") for r in summary["phases"]) else 1
