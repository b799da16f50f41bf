"""`pgolf doctor`: what this machine can run, and what is missing.

One line per check: the Python and torch builds, CUDA and the GPUs, bf16, ``torch.compile``,
FlexAttention and variable-length (document-packed) attention, the ZPAQ codec, the optional
extras (plots, trackers), the data under ``--data`` verified against its manifest's sha256,
and free disk. Nothing is imported that a check does not need; ``--probe`` also runs a tiny
compiled function and a FlexAttention call on this device (slower: a compile).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

# status: ok (usable), missing (absent; optional), n/a (does not apply here), bad (present but wrong)
OK, MISSING, NA, BAD = "ok", "missing", "n/a", "bad"
ZPAQ_MODULES = ("zpaq", "pyzpaq", "libzpaq")  # Python bindings that may provide the ZPAQ codec
VARLEN_MODULES = ("flash_attn_interface", "flash_attn")  # FlashAttention 3 (the record's) and 2


def check(name: str, status: str, value, hint: str = "") -> dict:
    return {"name": name, "status": status, "value": value, "hint": hint}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cpp_compiler() -> str | None:
    return next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)


def _probe(fn) -> tuple[bool, str]:
    """Run ``fn``; (worked, seconds taken or the error's first line)."""
    import warnings

    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. FlexAttention's note that eager mode is unfused
            fn()
    except Exception as e:  # any failure means "cannot run here"; say why in one line
        return False, (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    return True, f"{time.perf_counter() - t:.1f}s"


def torch_checks(probe: bool = False) -> list[dict]:
    import torch

    out = [check("torch", OK, torch.__version__)]
    cuda = torch.cuda.is_available()
    if cuda:
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        cap = ".".join(map(str, torch.cuda.get_device_capability(0)))
        out.append(check("cuda", OK, f"{torch.version.cuda} (driver sees {len(names)} GPU)"))
        out.append(check("gpu", OK, {"count": len(names), "names": names, "capability": cap}))
        bf16 = torch.cuda.is_bf16_supported()
        out.append(check("bf16", OK if bf16 else MISSING, bf16, "" if bf16 else "training falls back to fp16/fp32 speed"))
    else:
        built = torch.version.cuda
        out.append(check("cuda", MISSING if built else NA, f"built for CUDA {built}, no GPU visible" if built
                         else "CPU build of torch", "check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES" if built
                         else "CPU runs fp32; install a CUDA build of torch for GPUs"))
        out.append(check("gpu", NA, {"count": 0, "names": [], "capability": None}))
        out.append(check("bf16", NA, "CPU runs fp32 (bf16 autocast is used on CUDA only)"))
    device = torch.device("cuda" if cuda else "cpu")

    backend = "triton" if cuda else "C++ compiler"
    ready = _has_module("triton") if cuda else _cpp_compiler() is not None
    value = f"inductor needs {backend}: " + ("found" if ready else "not found")
    status = OK if ready else MISSING
    if probe and ready:
        worked, detail = _probe(lambda: torch.compile(lambda x: (x * 2).sin().sum())(torch.randn(64, device=device)))
        status, value = (OK if worked else BAD), value + f"; probe {'ran in ' if worked else 'failed: '}{detail}"
    out.append(check("compile", status, value, "" if ready else ("pip install triton" if cuda else "apt-get install g++")))

    flex = _has_module("torch.nn.attention.flex_attention")
    value = "torch.nn.attention.flex_attention" + ("" if flex else " absent (torch >= 2.5 has it)")
    status = OK if flex else MISSING
    if probe and flex:
        def run_flex():
            from torch.nn.attention.flex_attention import flex_attention
            q = torch.randn(1, 2, 128, 16, device=device)
            (torch.compile(flex_attention) if cuda else flex_attention)(q, q, q)
        worked, detail = _probe(run_flex)
        status, value = (OK if worked else BAD), value + f"; probe {'ran in ' if worked else 'failed: '}{detail}"
    out.append(check("flex_attention", status, value, "" if flex else "upgrade torch"))

    found = [m for m in VARLEN_MODULES if _has_module(m)]
    torch_varlen = _has_module("torch.nn.attention.varlen")
    value = {"flash_attn": found, "torch.nn.attention.varlen": torch_varlen}
    usable = bool(found) or (torch_varlen and cuda)
    out.append(check("varlen_attention", OK if usable else (MISSING if cuda else NA), value,
                     "" if usable else ("GPU: pip install flash-attn (the record uses FlashAttention 3)" if cuda
                                        else "GPU kernels; on CPU masked attention stands in")))
    out.append(check("cpu", OK, {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                 "capability": torch.backends.cpu.get_cpu_capability()}))
    return out


def zpaq_check() -> dict:
    lrzip = shutil.which("lrzip")
    version = None
    if lrzip:
        try:
            res = subprocess.run([lrzip, "-V"], capture_output=True, text=True, timeout=10)
            version = (res.stdout + res.stderr).strip().splitlines()[0] if (res.stdout + res.stderr).strip() else None
        except (OSError, subprocess.SubprocessError):
            version = None
    modules = [m for m in ZPAQ_MODULES if _has_module(m)]
    value = {"lrzip": lrzip, "lrzip_version": version, "modules": modules}
    ok = bool(lrzip or modules)
    return check("zpaq", OK if ok else MISSING, value, "" if ok else "apt-get install lrzip (or a ZPAQ module from PyPI)")


def extras_checks() -> list[dict]:
    out = []
    for name, dists, extra in (("plots", ("matplotlib",), "plots"), ("tensorboard", ("tensorboard",), "track"),
                               ("wandb", ("wandb",), "track")):
        versions = {d: _version(d) for d in dists}
        ok = all(versions.values())
        out.append(check(name, OK if ok else MISSING, versions, "" if ok else f"pip install 'pgolf[{extra}]'"))
    return out


def verify_data(root: str | Path, hash_files: bool = True) -> dict:
    """Every dataset folder of ``root``'s manifest that is present, checked file by file against
    the manifest's sha256 (or, with ``hash_files=False``, only for presence)."""
    from pgolf.data.fetch import MANIFEST, dataset_files, dataset_path, find_tokenizer, sha256_file
    from pgolf.errors import PgolfError

    root = Path(root)
    if not (root / MANIFEST).is_file():
        return check("data", MISSING, {"root": str(root)}, f"no {MANIFEST} in {root}: run `pgolf data fetch` "
                     "(or `pgolf run`, which fetches the mini data)")
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as e:
        return check("data", BAD, {"root": str(root)}, f"{root / MANIFEST}: unreadable ({e})")
    datasets, bad = {}, []

    def good(path: Path, sha: str | None) -> bool:
        return not (hash_files and sha) or sha256_file(path) == sha

    for ds in manifest.get("datasets", []):
        folder = root / dataset_path(ds)
        if not folder.is_dir():
            continue
        files = dataset_files(ds, list)
        present = {n: s for n, s in files.items() if (folder / n).is_file()}
        bad += [str(folder / n) for n, s in present.items() if not good(folder / n, s)]
        entry = {"val_shards": sum(n.startswith("fineweb_val_") for n in present),
                 "train_shards": sum(n.startswith("fineweb_train_") for n in present),
                 "train_shards_listed": sum(n.startswith("fineweb_train_") for n in files)}
        try:
            tok = find_tokenizer(manifest, ds)
            tok_path = root / tok["model_path"]
            entry["tokenizer"] = tok_path.is_file()
            if tok_path.is_file() and not good(tok_path, tok.get("sha256")):
                bad.append(str(tok_path))
        except PgolfError:
            entry["tokenizer"] = False
        datasets[ds.get("name")] = entry
    value = {"root": str(root), "datasets": datasets, "verified": hash_files, "failed": bad}
    if bad:
        return check("data", BAD, value, f"{len(bad)} file(s) fail their sha256: run `pgolf data fetch` again")
    if not datasets:
        return check("data", MISSING, value, "the manifest's dataset folders are absent: run `pgolf data fetch`")
    no_val = [n for n, e in datasets.items() if not e["val_shards"] or not e["tokenizer"]]
    if no_val:
        return check("data", MISSING, value, f"{', '.join(no_val)}: val shards or tokenizer missing")
    return check("data", OK, value)


def disk_check(paths: list[str | Path]) -> dict:
    free = {}
    for p in paths:
        p = Path(p)
        while not p.exists() and p != p.parent:
            p = p.parent
        free[str(p)] = shutil.disk_usage(p).free
    low = min(free.values()) < 2**30
    return check("disk_free_bytes", BAD if low else OK, free, "under 1 GiB free" if low else "")


def diagnose(data: str | Path = "data", probe: bool = False, hash_files: bool = True) -> dict:
    checks = [check("python", OK, platform.python_version()), check("platform", OK, platform.platform())]
    checks += torch_checks(probe)
    checks.append(zpaq_check())
    checks += extras_checks()
    checks.append(verify_data(data, hash_files))
    checks.append(disk_check([".", data]))
    return {"checks": checks, "ok": all(c["status"] != BAD for c in checks)}


def _text(value, nested: bool = False) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={_text(v, True)}" for k, v in value.items())
        return f"({inner})" if nested else inner
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def register(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="what this machine can run and what is missing (torch, CUDA, kernels, codecs, data, disk)",
        description=__doc__,
        epilog="examples:\n  pgolf doctor                      quick checks; hashes the data under data/\n"
        "  pgolf doctor --probe --json       also compile and run FlexAttention here; machine-readable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="data", help="the fetched data root holding manifest.json (default: data)")
    p.add_argument("--probe", action="store_true", help="run a tiny torch.compile and FlexAttention call")
    p.add_argument("--no-hash", action="store_true", help="check the data files are present without hashing them")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    res = diagnose(args.data, probe=args.probe, hash_files=not args.no_hash)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        width = max(len(c["name"]) for c in res["checks"])
        for c in res["checks"]:
            line = f"{c['status']:>7}  {c['name']:<{width}}  {_text(c['value'])}"
            print(line + (f"  -> {c['hint']}" if c["hint"] else ""))
        print("\nnothing is broken" if res["ok"] else "\nsomething is broken (status 'bad' above)", file=sys.stderr)
    return 0 if res["ok"] else 1
