"""Reading any record folder: ours and the challenge's, with their log and submission.json variants.

A log is read line by line with tolerant patterns (``key:value`` and ``key: value`` both parse):

- ``step:N/M ... train_time:Xms step_avg:Yms`` training progress, ``stopping_early: ... train_time:``
  and our ``stopping at step:N/M train_time:Xms``: the training time is the largest train_time seen;
- the score is the last line that carries both ``val_loss:`` and ``val_bpb:`` and is not a ``step:``
  line (``final_int8_zlib_roundtrip_exact``, ``final_int6_sliding_window``, ``quantized_ttt_phased``,
  ...); an ``_exact`` twin of that line gives the precise values;
- the evaluation time is ``total_eval_time:Xs`` when logged, else the ``eval_time:`` of the score line;
- ``Serialized model ...: N bytes``, ``Code size: N bytes``, ``Total submission size ...: N bytes``
  (the last of each);
- the seed from ``seed:S`` / ``seed: S`` / our ``config: ... seed=S``, else from the file name;
- the configuration: our ``config: k=v ...`` line, else the ``key:value`` pairs printed before the
  first training step.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pgolf.errors import PgolfError

NUM = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
# compressed model files a record may ship (a raw .pt checkpoint is not the artifact)
MODEL_SUFFIXES = (".pgolf", ".ptz", ".brotli", ".xz", ".zst", ".lzma", ".zlib", ".int8", ".int6")
# config keys that may differ between seeds of one submission
PER_SEED_KEYS = {"seed", "run_id", "out_dir", "data_path", "tokenizer_path", "logfile", "log_file",
                 "run_name", "output_dir", "checkpoint", "artifact_dir"}

_STEP = re.compile(r"^step:\s*(\d+)/(\d+)")
_TRAIN_TIME = re.compile(r"train_time:\s*" + NUM + r"\s*ms")
_STEP_AVG = re.compile(r"step_avg:\s*" + NUM + r"\s*ms")
_VAL_LOSS = re.compile(r"val_loss:\s*" + NUM)
_VAL_BPB = re.compile(r"val_bpb:\s*" + NUM)
_EVAL_TIME = re.compile(r"eval_time:\s*" + NUM + r"\s*(ms|s)\b")
_TOTAL_EVAL = re.compile(r"total_eval_time:\s*" + NUM + r"\s*(ms|s)\b")
_SERIALIZED = re.compile(r"^Serialized model[^:]*:\s*(\d+) bytes")
_CODE = re.compile(r"^Code size[^:]*:\s*(\d+) bytes")
_TOTAL = re.compile(r"^Total submission size[^:]*:\s*(\d+) bytes")
_SEED = re.compile(r"(?:^|\s)seed[:=]\s*(\d+)\b")
_VAL_TOKENS = re.compile(r"(?:^|\s)val_tokens:\s*(\d+)")
_CODE_VERSION = re.compile(r"(?:^|\s)code_version:(\S+)")
_KV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[:=]\s*(\S+)")
_STOP = re.compile(r"^(stopping_early|stopping at)")


def _ms(value: str, unit: str) -> float:
    return float(value) * (1000.0 if unit == "s" else 1.0)


@dataclass
class SeedLog:
    """The facts one log states (None where it does not say)."""

    path: Path
    seed: int | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    score_line: str | None = None
    train_ms: float | None = None
    step_avg_ms: float | None = None
    steps: int | None = None
    eval_s: float | None = None
    model_bytes: int | None = None
    code_bytes: int | None = None
    total_bytes: int | None = None
    val_tokens: int | None = None
    code_version: str | None = None
    config: dict[str, str] = field(default_factory=dict)

    @property
    def tokens_per_byte(self) -> float | None:
        if self.val_loss and self.val_bpb:
            return self.val_bpb * math.log(2) / self.val_loss
        return None

    def evidence(self) -> str:
        return self.path.name


def parse_log(path: str | Path) -> SeedLog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise PgolfError(f"{path}: cannot read log ({e.strerror})") from None
    return parse_log_text(text, path)


def parse_log_text(text: str, path: Path) -> SeedLog:
    log = SeedLog(path=path)
    scores: list[tuple[str, str]] = []  # (label, line)
    started = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        step = _STEP.match(line)
        if step or _STOP.match(line):
            started = started or bool(step)
            t = _TRAIN_TIME.search(line)
            if t:
                log.train_ms = max(log.train_ms or 0.0, float(t.group(1)))
            a = _STEP_AVG.search(line)
            if a:
                log.step_avg_ms = float(a.group(1))
            s = step or re.search(r"step:\s*(\d+)/", line)
            if s:
                log.steps = max(log.steps or 0, int(s.group(1)))
            continue
        if line.startswith("warmup_step"):
            started = True
            continue
        if _VAL_LOSS.search(line) and _VAL_BPB.search(line):
            scores.append((line.split()[0].rstrip(":"), line))
        m = _TOTAL_EVAL.search(line)
        if m:
            log.eval_s = _ms(m.group(1), m.group(2)) / 1000
        for pat, attr in ((_SERIALIZED, "model_bytes"), (_CODE, "code_bytes"), (_TOTAL, "total_bytes")):
            m = pat.match(line)
            if m:
                setattr(log, attr, int(m.group(1)))
        m = _VAL_TOKENS.search(line)
        if m:
            log.val_tokens = int(m.group(1))
        m = _CODE_VERSION.search(line)
        if m and log.code_version is None:
            log.code_version = m.group(1)
        if line.startswith("config: "):
            log.config = dict(kv.split("=", 1) for kv in line[len("config: "):].split() if "=" in kv)
        elif not started and not line.startswith(("[", "W0", "I0", "E0")):
            for k, v in _KV.findall(line):
                log.config.setdefault(k.lower(), v)
        m = _SEED.search(line)
        if m and log.seed is None and (line.startswith(("seed", "config:")) or not started):
            log.seed = int(m.group(1))
    if log.seed is None:
        m = re.search(r"seed[_-]?(\d+)", path.stem)
        log.seed = int(m.group(1)) if m else None
    if scores:
        label, line = scores[-1]
        exact = [ln for lab, ln in scores if lab == label + "_exact"]
        base = label[: -len("_exact")] if label.endswith("_exact") else label
        plain = [ln for lab, ln in scores if lab == base]
        precise = exact[-1] if exact else line
        log.val_loss = float(_VAL_LOSS.search(precise).group(1))
        log.val_bpb = float(_VAL_BPB.search(precise).group(1))
        log.score_line = precise
        if log.eval_s is None:
            for cand in (line, *(plain[-1:])):
                m = _EVAL_TIME.search(cand)
                if m:
                    log.eval_s = _ms(m.group(1), m.group(2)) / 1000
                    break
    for key in ("seed", "val_loss", "val_bpb", "train_time", "step_avg", "eval_time"):
        log.config.pop(key, None)
    return log


class Num(float):
    """A float from JSON that remembers how many decimals it was written with."""

    places: int

    def __new__(cls, text: str):
        obj = super().__new__(cls, text)
        mant = text.lower().split("e")[0]
        exp = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
        obj.places = max(0, (len(mant.split(".")[1]) if "." in mant else 0) - exp)
        return obj


def tolerance(value) -> float:
    """Half a unit in the last written decimal of ``value`` (plus the logs' 8-decimal rounding)."""
    places = getattr(value, "places", 8)
    return 0.5 * 10.0 ** (-places) + 1e-8


def read_json(path: Path) -> dict:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            import gzip

            raw = gzip.decompress(raw)
        obj = json.loads(raw.decode("utf-8"), parse_float=Num)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise PgolfError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise PgolfError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise PgolfError(f"{path}: expected a JSON object")
    return obj


def _merge(a: SeedLog, b: SeedLog) -> SeedLog:
    """Two logs of one seed (a train log and an eval log, or a copy): fill the gaps of ``a``."""
    for name in SeedLog.__dataclass_fields__:
        if name in ("path", "config"):
            continue
        if getattr(a, name) is None:
            setattr(a, name, getattr(b, name))
    if not a.config:
        a.config = b.config
    return a


@dataclass
class Record:
    folder: Path
    submission: dict | None
    logs: list[SeedLog]
    train_gpt: Path | None
    model_files: list[Path]
    tokenizers: list[Path]
    byte_tables: list[Path]
    audits: list[Path]
    files: list[str]
    submission_error: str | None = None  # why submission.json could not be read, if it could not

    @property
    def seeds(self) -> list[int]:
        return [lg.seed for lg in self.logs if lg.seed is not None]

    @property
    def scored_logs(self) -> list[SeedLog]:
        return [lg for lg in self.logs if lg.val_bpb is not None]

    def seed_bpbs(self) -> list[float]:
        """Per-seed val_bpb: from the logs, else from submission.json's seed_results."""
        vals = [lg.val_bpb for lg in self.scored_logs]
        claimed = [float(r["val_bpb"]) for r in submission_seed_results(self.submission).values()
                   if isinstance(r.get("val_bpb"), (int, float))]
        return claimed if len(claimed) > len(vals) else vals

    def mean_bpb(self) -> float | None:
        if self.submission and isinstance(self.submission.get("val_bpb"), (int, float)):
            return float(self.submission["val_bpb"])
        vals = self.seed_bpbs()
        return sum(vals) / len(vals) if vals else None

    def tokens_per_byte(self) -> float | None:
        tpb = [lg.tokens_per_byte for lg in self.logs if lg.tokens_per_byte]
        if tpb:
            return sum(tpb) / len(tpb)
        sub = self.submission or {}
        if isinstance(sub.get("val_loss"), (int, float)) and isinstance(sub.get("val_bpb"), (int, float)) and sub["val_loss"]:
            return sub["val_bpb"] * math.log(2) / sub["val_loss"]
        return None


# other spellings seen in submission.json files -> the keys in REFERENCE.md
ALIASES = {"val_bpb": ("val_bpb_mean", "mean_val_bpb"), "val_loss": ("val_loss_mean", "mean_val_loss"),
           "author": ("author_name",), "github_id": ("author_github", "github"),
           "bytes_total": ("artifact_bytes", "total_bytes")}


def normalize_submission(sub: dict) -> dict:
    out = dict(sub)
    for key, others in ALIASES.items():
        if key not in out:
            for o in others:
                if o in sub:
                    out[key] = sub[o]
                    break
    if isinstance(out.get("seeds"), list) and not all(isinstance(s, int) for s in out["seeds"]):
        out.pop("seeds")  # some entries listed their per-seed scores under "seeds"
    return out


def submission_seed_results(sub: dict | None) -> dict[str, dict]:
    """``seed_results`` as {seed string: dict}; accepts a dict or a list of dicts with a ``seed``."""
    res = (sub or {}).get("seed_results") or {}
    if isinstance(res, list):
        res = {str(r.get("seed")): r for r in res if isinstance(r, dict)}
    return {str(k): v for k, v in res.items() if isinstance(v, dict)} if isinstance(res, dict) else {}


def read_record(folder: str | Path) -> Record:
    folder = Path(folder)
    if not folder.is_dir():
        raise PgolfError(f"{folder}: no such record folder")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    sub_path = folder / "submission.json"
    submission, submission_error = None, None
    if sub_path.is_file():
        try:  # a broken submission.json fails its rule; the other rules still report their evidence
            submission = normalize_submission(read_json(sub_path))
        except PgolfError as e:
            submission_error = str(e)
    by_seed: dict[object, SeedLog] = {}
    for p in sorted(folder.glob("*.log")):
        lg = parse_log(p)
        if lg.val_bpb is None and lg.train_ms is None:
            continue  # not a run log (e.g. a setup transcript)
        key = lg.seed if lg.seed is not None else p.name
        by_seed[key] = _merge(by_seed[key], lg) if key in by_seed else lg
    seeded = [(lg.val_bpb, lg.train_ms) for k, lg in by_seed.items() if isinstance(k, int)]
    # a seedless train.log that repeats a seed's log (same score and time) is a copy, not a seed
    logs = [lg for k, lg in by_seed.items() if isinstance(k, int) or (lg.val_bpb, lg.train_ms) not in seeded]
    train_gpt = folder / "train_gpt.py"
    search = [folder, folder / "tokenizers", folder / "tokenizer"]
    tokenizers = sorted(p for d in search if d.is_dir() for p in d.glob("*.model"))
    byte_tables = sorted(p for d in search if d.is_dir() for p in d.glob("*byte_table*.json"))
    models = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    audits = sorted(p for pat in ("*audit*.json", "*audit*.json.gz") for p in folder.glob(pat))
    return Record(folder=folder, submission=submission, logs=logs,
                  train_gpt=train_gpt if train_gpt.is_file() else None, model_files=models,
                  tokenizers=tokenizers, byte_tables=byte_tables, audits=audits, files=files,
                  submission_error=submission_error)
