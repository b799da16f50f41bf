"""Reading one training or evaluation log, as the challenge's scripts and pgolf write them.

A log is cleaned before it is read:

- a Unix-time prefix on every line (``1776143353.675 stopping_early: ...``) is dropped;
- a dumped copy of the source code (the official scripts log their own file first) is cut out:
  it starts at the first ``import``/``from ... import`` line and runs to the next line of ``=``
  signs, so nothing in a comment or a format string is read as a fact;
- a log that holds several runs appended to each other (a code dump per run) is read for its
  last run; the others are counted in ``SeedLog.runs``.

Then, line by line with tolerant patterns (``key:value``, ``key: value`` and ``key=value``):

- progress ``step:N/M ...`` or ``N/M train_loss|val_loss ...``; ``train_time:Xms`` on those lines
  and on the stop line (``stopping_early: wallclock_cap ...``, pgolf's ``stopping at step:N/M``);
- every evaluation line (one with both ``val_loss:`` and ``val_bpb:``, not a progress line), with
  its label, its numbers and its ``eval_time:``; an ``_exact`` twin gives the precise values;
  diagnostics (``diagnostic ...``, ``pre-quantization ...``, ``... post_ema``) are kept apart;
- sizes: ``Serialized model ...: N bytes``, ``Code size: N``, ``Code size (uncompressed|compressed): N``,
  ``Total submission size ...: N``, the ternary script's ``budget:N/CAP`` and ``code:N``;
- GPTQ calibration after the clock: ``GPTQ:collected ... in Xs`` and ``gptq:calibrated ... in Xs``
  (training data), ``gptq:generated ... in Xs`` (self-generated data), pgolf's
  ``gptq_calibration ... train_plus_calibration:Xms``;
- the configuration: pgolf's ``config: k=v ...`` line, else every line before the first training
  step made only of ``key:value`` / ``key=value`` tokens (the ``Hyperparameters:`` block included).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pgolf.errors import PgolfError

NUM = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
# config keys that may differ between seeds of one submission (paths are left out by shape too)
PER_SEED_KEYS = {"seed", "run_id", "out_dir", "data_path", "tokenizer_path", "logfile", "log_file",
                 "run_name", "output_dir", "checkpoint", "artifact_dir", "rank", "local_rank",
                 "is_main_process", "master_process"}

_TIMESTAMP = re.compile(r"^\d{9,11}\.\d+\s+")
_CODE_START = re.compile(r"^(import [A-Za-z_]|from [\w.]+ import )")
_SEPARATOR = re.compile(r"^={20,}\s*$")
_STEP = re.compile(r"^step:\s*(\d+)/(\d+)")
_STEP_NEW = re.compile(r"^(\d+)/(\d+)\s+(?:train_loss|val_loss)")
_STOP = re.compile(r"^(stopping_early|stopping at)\b")
_STOP_STEP = re.compile(r"step:\s*(\d+)/(\d+)")
_TRAIN_TIME = re.compile(r"train_time:\s*" + NUM + r"\s*ms")
_STEP_AVG = re.compile(r"step_avg:\s*" + NUM + r"\s*ms")
_VAL_LOSS = re.compile(r"val_loss:\s*" + NUM)
_VAL_BPB = re.compile(r"val_bpb:\s*" + NUM)
_EVAL_TIME = re.compile(r"eval_time:\s*" + NUM + r"\s*(ms|s)\b")
_TOTAL_EVAL = re.compile(r"total_eval_time:\s*" + NUM + r"\s*(ms|s)\b")
_SERIALIZED = re.compile(r"^Serialized model[^:]*:\s*(\d+) bytes")
_CODE = re.compile(r"^Code size:\s*(\d+) bytes")
_CODE_RAW = re.compile(r"^Code size \(uncompressed\):\s*(\d+) bytes")
_CODE_PACKED = re.compile(r"^Code size \(compressed\):\s*(\d+) bytes")
_TOTAL = re.compile(r"^Total submission size[^:]*:\s*(\d+) bytes")
_BUDGET = re.compile(r"^budget:(\d+)/(\d+)")
_ARTIFACT_CODE = re.compile(r"^artifact:.*\bcode:(\d+)")
_CALIB_TRAIN = re.compile(r"^(?:GPTQ:collected .* in|gptq:calibrated .* in)\s+" + NUM + r"s")
_CALIB_SELF = re.compile(r"^gptq:generated .* in\s+" + NUM + r"s")
_CALIB_OURS = re.compile(r"^gptq_calibration .*\btime:" + NUM + r"ms")
_SEED = re.compile(r"(?:^|\s)seed[:=]\s*(\d+)\b")
_NAME_SEED = re.compile(r"seed[_-]?(\d+)|_log_(\d+)$")
_VAL_TOKENS = re.compile(r"(?:^|\s)val_tokens:\s*(\d+)")
_CODE_VERSION = re.compile(r"(?:^|\s)code_version:(\S+)")
_KV_TOKEN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[:=](\S*)$")
_KV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s+(\S.*)$")
_DIAGNOSTIC = re.compile(r"diagnostic|pre-quant|pre_quant|post[_-]ema", re.IGNORECASE)


def _ms(value: str, unit: str) -> float:
    return float(value) * (1000.0 if unit == "s" else 1.0)


@dataclass
class Eval:
    """One evaluation line: its label, numbers and time (None where the log does not say)."""

    label: str
    val_loss: float
    val_bpb: float
    eval_s: float | None
    line: str
    diagnostic: bool = False


@dataclass
class SeedLog:
    """The facts one log states (None where it does not say)."""

    path: Path
    name: str = ""  # the path relative to the record folder
    seed: int | None = None
    name_seed: int | None = None  # the seed the file name gives
    val_loss: float | None = None
    val_bpb: float | None = None
    score_line: str | None = None
    score_label: str | None = None
    evals: list[Eval] = field(default_factory=list)
    train_ms: float | None = None
    step_avg_ms: float | None = None
    steps: int | None = None
    iterations: int | None = None
    stop_logged: bool = False  # training logged that the clock (not the step count) stopped it
    eval_s: float | None = None
    total_eval_s: float | None = None  # `total_eval_time:` when the log states it
    model_bytes: int | None = None
    code_bytes: int | None = None  # the raw source size the run logged
    code_bytes_compressed: int | None = None  # the compressed wrapper size the run logged
    total_bytes: int | None = None
    calib_s: float | None = None  # GPTQ calibration on training data after the clock
    calib_self_s: float | None = None  # calibration data the model generated itself
    train_plus_calib_ms: float | None = None  # as pgolf logs it
    world_size: int | None = None
    wallclock_s: float | None = None  # max_wallclock_seconds the run was given
    val_tokens: int | None = None
    code_version: str | None = None
    runs: int = 1  # runs found in the file (the last is read)
    score_from: str | None = None  # an evaluation-only log that re-scored this run's artifact
    own_bpb: float | None = None  # this log's own score when another log re-scored it
    config: dict[str, str] = field(default_factory=dict)

    @property
    def tokens_per_byte(self) -> float | None:
        if self.val_loss and self.val_bpb:
            return self.val_bpb * math.log(2) / self.val_loss
        return None

    @property
    def trained(self) -> bool:
        return self.train_ms is not None or self.steps is not None

    @property
    def step_ms(self) -> float | None:
        """Milliseconds per step: the logged ``step_avg``, else train time over steps."""
        if self.step_avg_ms:
            return self.step_avg_ms
        if self.train_ms and self.steps:
            return self.train_ms / self.steps
        return None

    def evidence(self) -> str:
        return self.name or self.path.name

    def use_score(self, ev: Eval) -> None:
        self.val_loss, self.val_bpb, self.score_line, self.score_label = ev.val_loss, ev.val_bpb, ev.line, ev.label
        self.eval_s = self.total_eval_s if self.total_eval_s is not None else ev.eval_s


def parse_log(path: str | Path, name: str | None = None) -> SeedLog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise PgolfError(f"{path}: cannot read log ({e.strerror})") from None
    return parse_log_text(text, path, name)


def clean_lines(text: str) -> list[list[str]]:
    """The log's runs: lines without timestamps, split where a dumped source file begins."""
    runs: list[list[str]] = [[]]
    lines = [_TIMESTAMP.sub("", raw.rstrip("\r\n")) for raw in text.splitlines()]
    i = 0
    while i < len(lines):
        if _CODE_START.match(lines[i]):
            while i < len(lines) and not _SEPARATOR.match(lines[i]):
                i += 1
            runs.append([])
            continue
        runs[-1].append(lines[i].strip())
        i += 1
    return runs


def _has_run(lines: list[str]) -> bool:
    return any(_STEP.match(ln) or _STEP_NEW.match(ln) or _STOP.match(ln) or (_VAL_LOSS.search(ln) and _VAL_BPB.search(ln))
               for ln in lines)


def _config_pairs(line: str) -> list[tuple[str, str]]:
    """``key:value`` pairs of a line made of nothing else (a hyperparameter print), else none."""
    m = _KV_LINE.match(line)
    if m and " " not in m.group(2).strip():
        return [(m.group(1), m.group(2).strip())]
    tokens = line.split()
    pairs = [_KV_TOKEN.match(t) for t in tokens]
    if tokens and all(pairs):
        return [(p.group(1), p.group(2)) for p in pairs]
    return []


def _label(line: str) -> str:
    head = line[: line.find("val_loss")].strip()
    return head.split()[0].rstrip(":") if head else "eval"


def parse_log_text(text: str, path: Path, name: str | None = None) -> SeedLog:
    log = SeedLog(path=Path(path), name=name or Path(path).name)
    runs = clean_lines(text)
    merged: list[list[str]] = []
    pending: list[str] = []
    for run in runs:  # a segment with no run in it (a header before the code dump) belongs to the next
        pending += run
        if _has_run(run):
            merged.append(pending)
            pending = []
    if pending:
        (merged[-1].extend if merged else merged.append)(pending)
    log.runs = max(1, sum(1 for r in merged if _has_run(r)))
    lines = merged[-1] if merged else []
    started = False
    raw_evals: list[Eval] = []
    total_eval = None
    for line in lines:
        if not line:
            continue
        step = _STEP.match(line) or _STEP_NEW.match(line)
        stop = _STOP.match(line)
        if step or stop:
            started = started or bool(step)
            t = _TRAIN_TIME.search(line)
            if t:
                log.train_ms = max(log.train_ms or 0.0, float(t.group(1)))
            a = _STEP_AVG.search(line)
            if a:
                log.step_avg_ms = float(a.group(1))
            s = step or _STOP_STEP.search(line)
            if s:
                log.steps = max(log.steps or 0, int(s.group(1)))
                log.iterations = int(s.group(2))
            if stop:
                if "wallclock" in line:
                    log.stop_logged = True
                elif s and int(s.group(1)) < int(s.group(2)):
                    log.stop_logged = True  # pgolf: stopped before the step count, so by the clock
            continue
        if line.startswith(("warmup_step", "warmup:")):
            started = True
            continue
        if _VAL_LOSS.search(line) and _VAL_BPB.search(line):
            m = _EVAL_TIME.search(line)
            raw_evals.append(Eval(_label(line), float(_VAL_LOSS.search(line).group(1)),
                                  float(_VAL_BPB.search(line).group(1)), _ms(*m.groups()) / 1000 if m else None,
                                  line, bool(_DIAGNOSTIC.search(line[: line.find("val_loss")]))))
            continue
        m = _TOTAL_EVAL.search(line)
        if m:
            total_eval = _ms(m.group(1), m.group(2)) / 1000
        for pat, attr in ((_SERIALIZED, "model_bytes"), (_CODE, "code_bytes"), (_CODE_RAW, "code_bytes"),
                          (_CODE_PACKED, "code_bytes_compressed"), (_TOTAL, "total_bytes"),
                          (_ARTIFACT_CODE, "code_bytes")):
            m = pat.match(line)
            if m:
                setattr(log, attr, int(m.group(1)))
        m = _BUDGET.match(line)
        if m:
            log.total_bytes = int(m.group(1))
        m = _CALIB_TRAIN.match(line)
        if m:
            log.calib_s = (log.calib_s or 0.0) + float(m.group(1))
        m = _CALIB_SELF.match(line)
        if m:
            log.calib_self_s = (log.calib_self_s or 0.0) + float(m.group(1))
        m = _CALIB_OURS.match(line)
        if m:
            log.calib_s = float(m.group(1)) / 1000
        m = _VAL_TOKENS.search(line)
        if m:
            log.val_tokens = int(m.group(1))
        m = _CODE_VERSION.search(line)
        if m and log.code_version is None:
            log.code_version = m.group(1)
        if line.startswith("config: "):
            log.config = dict(kv.split("=", 1) for kv in line[len("config: "):].split() if "=" in kv)
        elif not started:
            for k, v in _config_pairs(line):
                log.config.setdefault(k.lower(), v)
        m = _SEED.search(line)
        if m and log.seed is None and (line.startswith(("seed", "config:")) or not started):
            log.seed = int(m.group(1))
    _finish(log, raw_evals, total_eval)
    return log


def _finish(log: SeedLog, raw_evals: list[Eval], total_eval: float | None) -> None:
    m = _NAME_SEED.search(log.path.stem)
    log.name_seed = int(m.group(1) or m.group(2)) if m else None
    if log.seed is None:
        log.seed = log.name_seed
    for key, attr in (("world_size", "world_size"), ("max_wallclock_seconds", "wallclock_s")):
        try:
            setattr(log, attr, (int if attr == "world_size" else float)(log.config[key]))
        except (KeyError, ValueError):
            pass
    evals: list[Eval] = []
    for ev in raw_evals:  # an `_exact` twin refines the line before it: one entry, precise numbers
        if ev.label.endswith("_exact") and evals and evals[-1].label == ev.label[: -len("_exact")]:
            prev = evals[-1]
            evals[-1] = Eval(prev.label, ev.val_loss, ev.val_bpb, prev.eval_s if ev.eval_s is None else ev.eval_s,
                             ev.line, prev.diagnostic)
        else:
            evals.append(ev)
    for i, ev in enumerate(evals):  # a repeated line (an alias of the score) takes its twin's time
        if ev.eval_s is None:
            twin = [e for e in evals[:i] if e.eval_s is not None and round(e.val_bpb, 4) == round(ev.val_bpb, 4)]
            if twin:
                ev.eval_s = twin[-1].eval_s
    log.evals = evals
    log.total_eval_s = total_eval
    scored = [e for e in evals if not e.diagnostic]
    if scored:
        log.use_score(scored[-1])
    for key in ("seed", "val_loss", "val_bpb", "train_time", "step_avg", "eval_time"):
        log.config.pop(key, None)
