"""`pgolf bench gpu`: what only a GPU can show, measured in one run of at most ``--budget`` seconds.

Phases, most valuable first where the compile cache allows (each reuses the compiles before it),
each in its own process with its own timeout; a phase that fails or times out never stops the next:

    probe          torch / CUDA / driver / GPU, FlexAttention and varlen present, a bf16 matmul ceiling
    tests          `pytest -m gpu tests/gpu`: fullgraph compile of the record model, attention paths
                   in bf16 with and without document masking, fused vs plain pieces, peak memory
    step-record    `pgolf bench step --preset record` at full size (looped step), CaseOps sp8192 data
    pgolf-baseline `pgolf train --preset baseline` for N steps (no clock, constant LR)
    step-baseline  `pgolf bench step --preset baseline` at full size, sp1024 data
    official       the official root train_gpt.py with the same N steps and settings
    record-run     `pgolf train --preset record` on the mini CaseOps data, clock up to 90 s, exported
    size           `pgolf size` of that run's artifact: the size model's prediction against the bytes

Every phase has a budget; what a phase leaves unused goes to the next ones, and a phase starts
only while the minimum times of the phases after it still fit before the deadline. After every
phase the result files are rewritten, so an interrupted run still leaves everything it measured.
The results folder holds at most 8 files, none in sub-folders (what the device tool copies back):
one JSON per measurement (``<date>_<device>_<what>.json``, the format of ``bench/results``),
``gpu-check.log`` with every child's output, and ``gpu-logs.tar.gz`` with the run folders' logs.

``--dry-run`` runs the same phases on the CPU with tiny dims and a few steps (the official script,
which needs CUDA, is then skipped): the CI test that keeps this file from rotting between GPU runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pgolf.bench import official as off
from pgolf.bench.gpu_prepare import CASEOPS, OFFICIAL, SP1024, read_prepared

REPO = Path(__file__).resolve().parents[2]  # the checkout: tests/gpu, bench/gpu_check.sh, pyproject.toml
BUDGET_S = 480.0  # the whole run: 8 minutes of a 15-minute device lease, start-up not included
RECORD_VOCAB = 8192  # the record trains on the CaseOps sp8192 data
SIDE_STEPS, SIDE_WARMUP = 20, 3  # official vs pgolf: 20 steps after 3 compile warm-up steps (timed: 10..20)
STEP_WARMUP, STEP_STEPS = 2, 6  # bench step: untimed, timed
RECORD_CLOCK_S = 90.0  # the record run's training clock, if the time left allows
RECORD_OVERHEAD_S = 110.0  # start-up, compile (warm cache), warm-up steps, export (four codecs), eval
RECORD_WARMUP = 4  # compile warm-up steps (the second half with the loop on)
RECORD_VAL_TOKENS = 262_144  # the record run scores the first whole val documents up to this many tokens
DRY_VAL_TOKENS = 4096
# The device tool's call: the run's 480 s, Python start-up and the log bundle inside 560 s (limit 600).
DEVICE_RUN = dict(command="bash bench/gpu_check.sh", carry=[".gpu"], timeout_s=560)


def record_config(**overrides):
    """The record preset on the CaseOps sp8192 data, as every record phase and GPU test builds it."""
    from dataclasses import fields

    from pgolf.config import Config, load_config

    names = {f.name for f in fields(Config)}
    return load_config("record", **{k: v for k, v in dict(vocab_size=RECORD_VOCAB, **overrides).items() if k in names})


def device_invocation() -> str:
    """The device tool's call, as docs/bench.md and bench/gpu_check.sh write it."""
    r = DEVICE_RUN
    return f'run(command="{r["command"]}", carry={json.dumps(r["carry"])}, timeout_s={r["timeout_s"]})'


@dataclass
class Phase:
    name: str
    budget_s: float
    min_s: float
    run: Callable[["Check", float], str | None]  # (check, timeout) -> None, or why it was skipped


@dataclass
class Child:
    cmd: list[str]
    rc: int | None
    seconds: float
    timed_out: bool
    output: str

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def status(self) -> str:
        return "timeout" if self.timed_out else ("ok" if self.rc == 0 else f"failed (exit {self.rc})")

    def tail(self, n: int = 5, width: int = 300) -> list[str]:
        return [ln[:width] for ln in self.output.splitlines() if ln.strip()][-n:]

    def info(self) -> dict:
        return dict(command=" ".join(self.cmd), status=self.status(), seconds=round(self.seconds, 1),
                    output_tail=self.tail())


def last_json(text: str) -> dict | None:
    """The last line of ``text`` that is a JSON object (a child's ``--json`` result)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


# ---- the probe (runs in its own process: the parent never touches CUDA) -------------------------

def matmul_ceiling(device) -> dict:
    """Median time of a large matrix product on random data (bf16 on CUDA, fp32 on CPU)."""
    import statistics

    import torch

    cuda = device.type == "cuda"
    n, dtype = (8192, torch.bfloat16) if cuda else (256, torch.float32)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(10):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            a @ b
            times.append(1000 * (time.perf_counter() - t))
    ms = statistics.median(times)
    return dict(n=n, dtype=str(dtype).removeprefix("torch."), median_ms=ms, tflops=2 * n**3 / (ms / 1000) / 1e12)


def probe() -> dict:
    """The machine as the measurements need it described."""
    from importlib import metadata

    import torch

    from pgolf.bench.results import device_slug
    from pgolf.train.runlog import environment

    info = dict(environment(), cpu_count=os.cpu_count(), cuda_available=torch.cuda.is_available())
    device = torch.device("cuda", 0) if info["cuda_available"] else torch.device("cpu")
    info["device"] = device_slug(device)
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_bytes=int(p.total_memory),
                    sm_count=p.multi_processor_count, bf16=torch.cuda.is_bf16_supported(),
                    cudnn=torch.backends.cudnn.version())
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20)
            info["driver"] = smi.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    try:
        from torch.nn.attention import flex_attention  # noqa: F401

        info["flex_attention"] = True
    except ImportError:
        info["flex_attention"] = False
    try:
        from torch.nn.attention import varlen

        info["varlen_attention"] = hasattr(varlen, "varlen_attn")
    except ImportError:
        info["varlen_attention"] = False
    versions = {}
    for name in ("numpy", "sentencepiece", "zstandard", "brotli", "tqdm", "huggingface-hub", "scipy", "pytest", "triton"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info["packages"] = versions
    info["matmul"] = matmul_ceiling(device)
    return info


def probe_main() -> None:
    print(json.dumps(probe(), sort_keys=True), flush=True)


# ---- the run ------------------------------------------------------------------------------------

@dataclass
class Check:
    out_dir: Path
    work_dir: Path
    data_root: Path
    repo: Path
    dry_run: bool = False
    budget_s: float = BUDGET_S
    python: str = sys.executable
    label: str = ""
    machine: dict = field(default_factory=dict)
    commit: str = "unknown"
    commit_source: str = "git"
    phases: list[dict] = field(default_factory=list)
    docs: dict[str, dict] = field(default_factory=dict)
    probe: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    created: str = ""

    # -- where things are
    def data(self, which: str) -> Path:
        """A mini mirror: the prepared copy under data_root, else ../shared beside the checkout."""
        for root in (self.data_root, self.repo.parent / "shared"):
            if (root / which).is_dir():
                return (root / which).resolve()  # children run in other folders
        raise FileNotFoundError(f"{which} is neither under {self.data_root} nor in ../shared (run bench/gpu_prepare.sh)")

    @property
    def log_path(self) -> Path:
        return self.out_dir / "gpu-check.log"

    def log(self, text: str, echo: bool = True) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
        if echo:
            print(text, flush=True)

    def env(self) -> dict[str, str]:
        from pgolf.bench.proxy import child_env

        env = child_env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.repo), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["TORCHINDUCTOR_CACHE_DIR"] = str(self.work_dir / "inductor")  # shared by every phase's compile
        if self.dry_run:
            env["CUDA_VISIBLE_DEVICES"] = ""  # the dry run is a CPU run, on any machine
            env.setdefault("OMP_NUM_THREADS", "1")
        return env

    def child(self, cmd: list[str], timeout: float, env: dict | None = None, cwd: Path | None = None) -> Child:
        """Run ``cmd`` with its output appended to the log; killed with its process group at ``timeout``."""
        self.log("$ " + " ".join(cmd), echo=False)
        start = self.log_path.stat().st_size
        t0 = time.perf_counter()
        with open(self.log_path, "ab") as sink:
            p = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env or self.env(),
                                 cwd=str(cwd or self.repo), start_new_session=True)
            timed_out = False
            try:
                p.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(p)
        seconds = time.perf_counter() - t0
        with open(self.log_path, "rb") as f:
            f.seek(start)
            output = f.read().decode("utf-8", "replace")
        return Child(cmd, p.returncode, seconds, timed_out, output)

    def pgolf(self, *args: str) -> list[str]:
        return [self.python, "-m", "pgolf", *args]

    # -- results
    def document(self, kind: str, command: str, payload: dict) -> dict:
        from pgolf.bench.results import document

        doc = document(kind, self.machine, self.commit, command, payload)
        doc.update(commit_source=self.commit_source, dry_run=self.dry_run)
        return doc

    def save(self, what: str, doc: dict) -> Path:
        """Write one result file (rewritten in place as the run fills it in)."""
        from pgolf.train.runlog import write_json

        doc.setdefault("dry_run", self.dry_run)
        if doc.get("commit") in (None, "unknown"):
            doc.update(commit=self.commit, commit_source=self.commit_source)
        self.docs[what] = doc
        path = self.out_dir / f"{self.created[:10]}_{self.machine.get('device', 'unknown')}_{what}.json"
        write_json(path, doc)
        return path


def _stop(p: subprocess.Popen) -> None:
    """End a child and every process it started (its own session), gently first."""
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the second also reaches what outlived the first
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass


# ---- the phases ---------------------------------------------------------------------------------

def phase_probe(c: Check, timeout: float) -> str | None:
    ch = c.child([c.python, "-c", "from pgolf.bench.gpu import probe_main; probe_main()"], timeout)
    info = last_json(ch.output)  # printed before a slow exit still counts
    if info is None:
        raise RuntimeError(f"probe {ch.status()}: " + " | ".join(ch.tail()))
    c.machine = _machine(info, c.label, c.dry_run)
    c.probe = info
    missing = [k for k in ("zstandard", "brotli", "sentencepiece") if not (info.get("packages") or {}).get(k)]
    if missing:  # export then leaves out those codecs: the bytes would not be the real ones
        c.warnings.append(f"{', '.join(missing)} not importable: the record run's bytes leave out their codecs")
    return None


def _machine(info: dict, label: str, dry_run: bool) -> dict:
    keys = ("device", "gpu", "torch", "cuda", "cudnn", "driver", "python", "platform", "cpu_count", "cpu_threads",
            "capability", "gpu_memory_bytes", "sm_count")
    m = {k: info.get(k) for k in keys}
    default = f"{info.get('gpu')}, torch {info.get('torch')}, CUDA {info.get('cuda')}" if info.get("gpu") else \
        f"{info.get('cpu_count')}-core CPU, no GPU"
    m["label"] = label or (f"dry run on CPU ({default}): not a measurement" if dry_run else default)
    return m


def phase_tests(c: Check, timeout: float) -> str | None:
    junit = c.work_dir / "gpu-tests.xml"
    cmd = [c.python, "-m", "pytest", "-m", "gpu", "tests/gpu", "-vv", "-p", "no:cacheprovider",
           "-o", "junit_family=xunit1", f"--junitxml={junit}"]
    ch = c.child(cmd, timeout)
    tests = parse_junit(junit) if junit.is_file() else parse_verbose(ch.output)
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "error", "skipped")}
    c.save("gpu-tests", c.document("gpu-tests", " ".join(cmd[2:]), dict(
        status=ch.status(), seconds=round(ch.seconds, 1), counts=counts, tests=tests,
        source="junit" if junit.is_file() else "pytest -v output (no junit file: the run was cut short)")))
    if not ch.ok and not tests:
        raise RuntimeError(f"pytest {ch.status()}: " + " | ".join(ch.tail()))
    return None


def parse_junit(path: Path) -> list[dict]:
    """Each test case of a pytest junit file: name, outcome, seconds, first line of any message, properties."""
    import xml.etree.ElementTree as ET

    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                text = (el.get("message") or el.text or "").strip()
                message = text.splitlines()[0][:300] if text else ""
                break
        props = {p.get("name"): _num(p.get("value")) for p in case.iter("property")}
        out.append(dict(name=f"{case.get('classname', '')}::{case.get('name')}", outcome=outcome,
                        seconds=round(float(case.get("time") or 0), 2), message=message, properties=props))
    return out


def parse_verbose(text: str) -> list[dict]:
    """Test outcomes from `pytest -v` lines (``path::name PASSED``), for a run cut short."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "::" in parts[0] and parts[1] in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            out.append(dict(name=parts[0], outcome=parts[1].lower(), seconds=None, message="", properties={}))
    return out


def _num(v: str | None):
    try:
        return json.loads(v) if v is not None else None
    except json.JSONDecodeError:
        return v


def known_overrides(kv: dict) -> list[str]:
    """``key=value`` for the keys that are Config fields (a renamed field is left out, not fatal)."""
    from dataclasses import fields

    from pgolf.config import Config

    names = {f.name for f in fields(Config)}
    return [f"{k}={v}" for k, v in kv.items() if k in names]


def _size_args(c: Check) -> list[str]:
    return ["--smoke"] if c.dry_run else []


def _device_args(c: Check) -> list[str]:
    return ["device=cpu"] if c.dry_run else []


def step_phase(preset: str, data: str, overrides: dict) -> Callable[[Check, float], str | None]:
    def run(c: Check, timeout: float) -> str | None:
        warmup, steps = (1, 2) if c.dry_run else (STEP_WARMUP, STEP_STEPS)
        cmd = c.pgolf("bench", "step", "--preset", preset, *_size_args(c), "--warmup", str(warmup), "--steps",
                      str(steps), "--data", str(c.data(data)), "--json", "--label", c.machine.get("label", ""),
                      *known_overrides(overrides), *_device_args(c))
        ch = c.child(cmd, timeout)
        doc = last_json(ch.output) if ch.ok else None
        if doc is None:
            raise RuntimeError(f"bench step {preset} {ch.status()}: " + " | ".join(ch.tail()))
        doc["wall_seconds"] = round(ch.seconds, 1)
        c.save(f"step-{preset}", doc)
        return None
    return run


def _side_settings(c: Check) -> tuple[dict, int]:
    """(settings both scripts run, first step of the steady window)."""
    from pgolf.config import load_config

    shape = load_config("baseline", smoke=c.dry_run)
    if c.dry_run:
        return off.shared_settings(3, 0, shape, log_every=1), 1
    return off.shared_settings(SIDE_STEPS, SIDE_WARMUP, shape), off.LOG_EVERY


def _side_doc(c: Check) -> dict:
    doc = c.docs.get("gpu-side-by-side")
    if doc is None:
        settings, after = _side_settings(c)
        doc = c.document("gpu-side-by-side", "pgolf bench gpu (phases official, pgolf-baseline)",
                         dict(settings=settings, steady_from_step=after, official=None, pgolf=None, compare={}))
    return doc


def _finish_side(c: Check, doc: dict) -> None:
    if doc.get("official") and doc.get("pgolf") and "skipped" not in doc["official"]:
        doc["compare"] = off.compare(doc["official"], doc["pgolf"])
    c.save("gpu-side-by-side", doc)


def phase_official(c: Check, timeout: float) -> str | None:
    doc = _side_doc(c)
    script = c.data_root / OFFICIAL
    why = None
    if c.dry_run or not c.machine.get("gpu"):
        why = "the official train_gpt.py needs CUDA (it raises without it)"
    elif not script.is_file():
        why = f"{script} is missing (run bench/gpu_prepare.sh before the GPU run)"
    if why:
        doc["official"] = dict(skipped=why)
        _finish_side(c, doc)
        return why
    settings, after = _side_settings(c)
    sp = c.data(SP1024)
    run_dir = c.work_dir / "official"
    _fresh(run_dir).mkdir(parents=True)
    env = dict(c.env(), **off.official_env(settings, sp / "datasets" / "fineweb10B_sp1024",
                                            sp / "tokenizers" / "fineweb_1024_bpe.model", "official"))
    ch = c.child([c.python, str(script.resolve())], timeout, env=env, cwd=run_dir)
    doc["official"] = dict(off.summarize(off.parse_log(ch.output), after), **ch.info(), script=str(script),
                           environment={k: env[k] for k in off.official_env(settings, "", "", "")})
    _finish_side(c, doc)
    if not ch.ok:
        raise RuntimeError(f"official train_gpt.py {ch.status()}: " + " | ".join(ch.tail()))
    return None


def _fresh(folder: Path) -> Path:
    """An empty run folder: a reused --work must not append this run's log to an earlier one's."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _train_log(c: Check, run_id: str, ch: Child) -> str:
    path = c.work_dir / "runs" / run_id / "train.log"
    return path.read_text() if path.is_file() else ch.output


def _summary(c: Check, run_id: str) -> dict | None:
    path = c.work_dir / "runs" / run_id / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _val_cut(c: Check, which: str, vocab: int, tokens: int | None) -> tuple[Path, Path]:
    from pgolf.bench.proxy import prepare_data

    return prepare_data(c.data(which), c.work_dir / f"data-{vocab}", vocab, tokens or 0)


def phase_pgolf_baseline(c: Check, timeout: float) -> str | None:
    doc = _side_doc(c)
    settings, after = _side_settings(c)
    dataset, tok = _val_cut(c, SP1024, 1024, DRY_VAL_TOKENS if c.dry_run else None)
    run_id = "baseline"
    _fresh(c.work_dir / "runs" / run_id)
    cmd = c.pgolf("train", "--preset", "baseline", *_size_args(c), *off.pgolf_overrides(settings),
                  f"data_path={dataset}", f"tokenizer_path={tok}", f"out_dir={c.work_dir / 'runs'}",
                  f"run_id={run_id}", *_device_args(c))
    ch = c.child(cmd, timeout)
    doc["pgolf"] = dict(off.summarize(off.parse_log(_train_log(c, run_id, ch)), after), **ch.info())
    _finish_side(c, doc)
    if not ch.ok:
        raise RuntimeError(f"pgolf train --preset baseline {ch.status()}: " + " | ".join(ch.tail()))
    return None


def phase_record_run(c: Check, timeout: float) -> str | None:
    if c.dry_run:
        clock, val_tokens, warmup = 0.0, DRY_VAL_TOKENS, 0
        steps = dict(iterations=3, max_wallclock_seconds=0)
    else:
        clock = max(15.0, min(RECORD_CLOCK_S, timeout - RECORD_OVERHEAD_S))
        val_tokens, warmup = RECORD_VAL_TOKENS, RECORD_WARMUP
        steps = dict(max_wallclock_seconds=clock)
    dataset, tok = _val_cut(c, CASEOPS, RECORD_VOCAB, val_tokens)
    run_id = "record"
    _fresh(c.work_dir / "runs" / run_id)
    kv = dict(vocab_size=RECORD_VOCAB, **steps, warmup_steps=warmup, val_loss_every=0, train_log_every=10,
              allow_over_cap="true")
    cmd = c.pgolf("train", "--preset", "record", *_size_args(c), *known_overrides(kv), f"data_path={dataset}",
                  f"tokenizer_path={tok}", f"out_dir={c.work_dir / 'runs'}", f"run_id={run_id}", *_device_args(c))
    ch = c.child(cmd, timeout)
    parsed = off.summarize(off.parse_log(_train_log(c, run_id, ch)))
    summary = _summary(c, run_id) or {}
    cfg = _run_config(c, run_id)
    result = dict(parsed, **ch.info(), clock_s=clock, val_tokens=val_tokens, warmup_steps=warmup,
                  run_dir=str(c.work_dir / "runs" / run_id), artifact_written=(c.work_dir / "runs" / run_id / "model.pgolf").is_file())
    for k in ("bytes_model", "bytes_code", "bytes_total", "headroom", "eval_seconds", "pre_quant_val_bpb",
              "train_seconds", "peak_memory_bytes"):
        if k in summary:
            result.setdefault(k, summary[k])
    if "bytes_total" in result:  # from the log lines when the run was stopped before its summary
        from pgolf.artifact.size import CAP_BYTES

        result.setdefault("headroom", CAP_BYTES - result["bytes_total"])
    if cfg:
        result["train_batch_tokens"] = cfg.get("train_batch_tokens")
        result["train_seq_len"] = cfg.get("train_seq_len")
        if result.get("steps"):
            result["tokens_seen"] = result["steps"] * cfg.get("train_batch_tokens", 0)
    doc = c.document("gpu-record-run", " ".join(cmd[2:]), dict(result=result, size=None))
    c.save("gpu-record-run", doc)
    if not ch.ok:
        raise RuntimeError(f"pgolf train --preset record {ch.status()}: " + " | ".join(ch.tail()))
    return None


def _run_config(c: Check, run_id: str) -> dict | None:
    try:
        return json.loads((c.work_dir / "runs" / run_id / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def phase_size(c: Check, timeout: float) -> str | None:
    run_dir = c.work_dir / "runs" / "record"
    if not (run_dir / "model.pgolf").is_file():
        return "the record run wrote no artifact"
    ch = c.child(c.pgolf("size", str(run_dir), "--json"), timeout)
    res = last_json(ch.output) if ch.ok else None
    doc = c.docs.get("gpu-record-run") or c.document("gpu-record-run", "", dict(result=None))
    doc["size"] = dict(res, seconds=round(ch.seconds, 1), where="GPU machine") if res is not None else ch.info()
    c.save("gpu-record-run", doc)
    if res is None:
        raise RuntimeError(f"pgolf size {ch.status()}: " + " | ".join(ch.tail()))
    return None


# Budgets are estimates for one H100/H200 (start-up, a cold or warm compile, the steps, export);
# the first GPU run's gpu-check JSON records the real seconds of each phase.
PHASES = [
    Phase("probe", 25, 8, phase_probe),
    Phase("tests", 100, 30, phase_tests),  # the record's cold compile; it fills the cache for what follows
    Phase("step-record", 45, 20, step_phase("record", CASEOPS, dict(vocab_size=RECORD_VOCAB, loop_enable_frac=0))),
    Phase("pgolf-baseline", 50, 30, phase_pgolf_baseline),  # the baseline's cold compile (outside its timing)
    Phase("step-baseline", 30, 15, step_phase("baseline", SP1024, {})),
    Phase("official", 55, 35, phase_official),
    Phase("record-run", 175, 70, phase_record_run),
    Phase("size", 0, 10, phase_size),  # CPU work on what is left; `--collect` runs it on the returned artifact
]
assert sum(p.budget_s for p in PHASES) == BUDGET_S


def plan_timeout(phases: list[Phase], i: int, left_s: float, budget_scale: float = 1.0) -> float:
    """Seconds phase ``i`` may run with ``left_s`` to the deadline: its budget plus the time earlier
    phases left unused, never so long that the later phases' minimum times no longer fit."""
    later_min = sum(p.min_s * budget_scale for p in phases[i + 1:])
    slack = left_s - sum(p.budget_s * budget_scale for p in phases[i:])
    return min(phases[i].budget_s * budget_scale + max(slack, 0.0), left_s - later_min)


def run_check(c: Check, phases: list[Phase] = PHASES, only: set[str] | None = None) -> dict:
    """Run every phase within the budget; returns the gpu-check summary document."""
    from pgolf.bench.results import now_utc
    from pgolf.train.runlog import code_version

    c.out_dir.mkdir(parents=True, exist_ok=True)
    c.work_dir.mkdir(parents=True, exist_ok=True)
    c.created = now_utc().isoformat(timespec="seconds")
    c.commit = code_version(c.repo)
    if c.commit == "unknown":  # the device machine gets the files, not the git history
        prep = read_prepared(c.data_root) or {}
        c.commit, c.commit_source = prep.get("commit", "unknown"), f"{c.data_root}/prepared.json"
    # the probe describes the machine, so it always runs; the budgets are scaled to fit --budget
    chosen = [ph for ph in phases if not only or ph.name in only or ph.name == "probe"]
    scale = c.budget_s / sum(ph.budget_s for ph in chosen)
    t_start = time.perf_counter()
    deadline = t_start + c.budget_s
    c.log(f"pgolf bench gpu: {'DRY RUN (CPU, tiny dims)' if c.dry_run else 'GPU run'}; budget {c.budget_s:.0f}s; "
          f"commit {c.commit} ({c.commit_source}); results in {c.out_dir}")
    for ph in phases:
        left = deadline - time.perf_counter()
        i = next((k for k, q in enumerate(chosen) if q is ph), None)
        timeout = plan_timeout(chosen, i, left, scale) if i is not None else 0.0
        row = dict(name=ph.name, budget_s=round(ph.budget_s * scale, 1), timeout_s=round(timeout, 1))
        if i is None:
            row.update(status="skipped", reason="not in --only")
        elif timeout < ph.min_s * scale:
            row.update(status="skipped", reason=f"{left:.0f}s left: under its minimum {ph.min_s * scale:.0f}s")
        else:
            c.log(f"==== [{i + 1}/{len(chosen)}] {ph.name} (timeout {timeout:.0f}s, {left:.0f}s left)")
            t = time.perf_counter()
            try:
                why = ph.run(c, timeout)
                why = why if isinstance(why, str) else None
                row.update(status="skipped" if why else "ok", reason=why)
            except Exception as e:  # one phase's failure is a result, not the end of the run
                row.update(status="failed", reason=f"{type(e).__name__}: {e}"[:600])
            row["seconds"] = round(time.perf_counter() - t, 1)
        c.phases.append(row)
        c.log(f"---- {ph.name}: {row['status']}" + (f" in {row['seconds']}s" if "seconds" in row else "")
              + (f" ({row['reason']})" if row.get("reason") else ""))
        if not c.machine:  # the probe failed: describe the machine from what the parent knows
            c.machine = _machine(_fallback_machine(), c.label, c.dry_run)
        summary = c.document("gpu-check", "pgolf bench gpu" + (" --dry-run" if c.dry_run else ""), dict(
            budget_s=c.budget_s, seconds=round(time.perf_counter() - t_start, 1), phases=c.phases, probe=c.probe,
            warnings=c.warnings, prepared=read_prepared(c.data_root)))
        c.save("gpu-check", summary)
    bundle_logs(c)
    return c.docs["gpu-check"]


def _fallback_machine() -> dict:
    import platform

    import torch

    return dict(device="unknown", torch=torch.__version__, cuda=torch.version.cuda, python=platform.python_version(),
                platform=platform.platform(), cpu_count=os.cpu_count())


RETURN_FILE_LIMIT = 16 * 2**20  # the device tool brings back files up to 16 MiB
RECORD_ARTIFACT = "runs/record/model.pgolf"


def bundle_logs(c: Check, max_file_bytes: int = 4 * 2**20) -> Path:
    """The run folders' logs and small files as one tar.gz, with the record run's artifact when
    it fits the device tool's file limit (so the size model can also be run on it afterwards)."""
    path = c.out_dir / "gpu-logs.tar.gz"
    skip = (".pt", ".pgolf", ".ptz", ".bin", ".model")
    small = [f for f in sorted(c.work_dir.rglob("*"))
             if f.is_file() and not f.is_symlink() and f.relative_to(c.work_dir).parts[0] != "inductor"
             and f.suffix not in skip and f.stat().st_size <= max_file_bytes]
    artifact = c.work_dir / RECORD_ARTIFACT
    for extra in ([artifact] if artifact.is_file() else []), []:
        with tarfile.open(path, "w:gz") as tar:
            for f in small + extra:
                tar.add(f, arcname=str(f.relative_to(c.work_dir)))
        if path.stat().st_size < RETURN_FILE_LIMIT - 2**18:
            break
    return path


def summary_lines(c: Check) -> list[str]:
    """The short table printed last (the device tool returns the end of the output)."""
    lines = [f"pgolf bench gpu {'(dry run) ' if c.dry_run else ''}on {c.machine.get('label')}, commit {c.commit}",
             f"{'phase':<16}{'status':<10}{'seconds':>9}{'timeout':>9}  note"]
    for r in c.phases:
        lines.append(f"{r['name']:<16}{r['status']:<10}{r.get('seconds', 0):>9.1f}{r['timeout_s']:>9.0f}  {r.get('reason') or ''}"[:160])
    lines.append(f"results: {c.out_dir} ({len(list(c.out_dir.iterdir()))} files)")
    return lines


# ---- collecting a GPU run's results into bench/results -------------------------------------------

def collect(src: Path, results_dir: Path, allow_dry_run: bool = False) -> list[Path]:
    """Copy a results folder's JSON files into ``results_dir`` and regenerate bench/README.md."""
    from pgolf.bench.results import KINDS, write_readme
    from pgolf.errors import PgolfError
    from pgolf.train.runlog import write_json

    docs = []
    for p in sorted(Path(src).glob("*.json")):
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(d, dict) and d.get("kind") in KINDS and d.get("kind") != "proxy":
            docs.append((p, d))
    if not docs:
        raise PgolfError(f"{src}: no result files of `pgolf bench gpu` here")
    dry = [p.name for p, d in docs if d.get("dry_run")]
    if dry and not allow_dry_run:
        raise PgolfError(f"{src}: {dry[0]} is from a dry run (CPU, tiny dims), not a GPU measurement")
    record_run = next((d for _, d in docs if d["kind"] == "gpu-record-run"), None)
    if record_run is not None and not (record_run.get("size") or {}).get("predicted_bytes"):
        record_run["size"] = size_from_bundle(Path(src) / "gpu-logs.tar.gz") or record_run.get("size")
    out = []
    for p, d in docs:
        dest = results_dir / p.name
        n = 1
        while dest.exists() and json.loads(dest.read_text()) != d:
            n += 1
            dest = results_dir / f"{p.stem}-{n}.json"
        write_json(dest, d)
        out.append(dest)
    write_readme(results_dir)
    return out


def report_preview(c: Check) -> list[str]:
    """What bench/README.md will show once these results are collected."""
    from pgolf.bench.results import render_readme

    return ["", "---- bench/README.md after `pgolf bench gpu --collect` ----", render_readme(c.out_dir)]


def size_from_bundle(bundle: Path) -> dict | None:
    """`pgolf size` of the record artifact inside a GPU run's log bundle (None if it is not there)."""
    import tempfile

    if not bundle.is_file():
        return None
    with tarfile.open(bundle) as tar, tempfile.TemporaryDirectory() as tmp:
        try:
            member = tar.getmember(RECORD_ARTIFACT)
        except KeyError:
            return None
        tar.extract(member, tmp, filter="data")
        out = subprocess.run([sys.executable, "-m", "pgolf", "size", str(Path(tmp) / RECORD_ARTIFACT), "--json"],
                             capture_output=True, text=True)
    res = last_json(out.stdout) if out.returncode == 0 else None
    return dict(res, where="the collecting machine, from the returned artifact") if res else None
