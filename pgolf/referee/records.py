"""Reading any record folder: ours and the challenge's, with their layouts and submission.json variants.

Logs (see ``logs.py`` for what is read from each) are found at the top of the folder, under
``logs/`` and in subfolders one or two levels down, named ``*.log`` or ``*.txt``; a file is a run
log when it states a training time or a score. They are grouped by seed (the logged seed, else the
file name's):

- a log that repeats another (same bytes, or the same score, time and steps) is a copy, not a seed;
- an eval-only log (a score, no training) of a seed that has a training log re-scores that seed's
  artifact: its score counts, the training log's own score is kept beside it;
- a seed with several full training runs (a compliance re-run) counts the run whose logged code
  size is the shipped entry point's, else the run submission.json names, else the last by name;
  the others stay in ``Record.extra_runs`` and are still checked for time and size;
- a seed whose last evaluation label no other seed logs, while it also logged the label the others
  end on, is scored on that common label: the later line is an extra evaluation, not its score.

A folder is a record folder when it has a README.md or a submission.json (``submission*.json``
when it is the only one).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pgolf.errors import PgolfError
from pgolf.referee.logs import PER_SEED_KEYS, SeedLog, parse_log  # noqa: F401 - re-exported for submit and tests
from pgolf.referee.sources import Sources, code_that_runs

# compressed model files a record may ship (a raw .pt checkpoint is not the artifact)
MODEL_SUFFIXES = (".pgolf", ".ptz", ".brotli", ".xz", ".zst", ".lzma", ".zlib", ".int8", ".int6")
LOG_SUFFIXES = (".log", ".txt")
NOT_LOGS = {"requirements.txt", "license.txt", "notes.txt"}


class Num(float):
    """A float from JSON that remembers how many decimals it was written with."""

    places: int
    text: str

    def __new__(cls, text: str):
        obj = super().__new__(cls, text)
        mant = text.lower().split("e")[0]
        exp = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
        obj.places = max(0, (len(mant.split(".")[1]) if "." in mant else 0) - exp)
        obj.text = text
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


# other spellings seen in submission.json files -> the keys in REFERENCE.md
ALIASES = {"val_bpb": ("val_bpb_mean", "mean_val_bpb", "mean_bpb"), "val_loss": ("val_loss_mean", "mean_val_loss"),
           "author": ("author_name",), "github_id": ("author_github", "github"),
           "bytes_total": ("artifact_bytes", "total_bytes", "artifact_size_bytes"),
           "bytes_code": ("code_bytes",), "val_bpb_std": ("std_bpb",), "name": ("run_name",)}


def normalize_submission(sub: dict) -> dict:
    out = dict(sub)
    for key, others in ALIASES.items():
        if key not in out:
            for o in others:
                if o in sub:
                    out[key] = sub[o]
                    break
    for key in ("seed_results", "seeds", "compliance", "compliance_rerun"):  # some entries wrote these as JSON text
        if isinstance(out.get(key), str) and out[key].lstrip().startswith(("{", "[")):
            try:
                out[key] = json.loads(out[key], parse_float=Num)
            except json.JSONDecodeError:
                pass
    if isinstance(out.get("seeds"), dict) and "seed_results" not in out:
        out["seed_results"] = out.pop("seeds")  # per-seed results written under "seeds"
    if isinstance(out.get("seeds"), list) and not all(isinstance(s, int) for s in out["seeds"]):
        out.pop("seeds")
    if "seeds" not in out and isinstance(out.get("seed_results"), dict):
        try:
            out["seeds"] = [int(s) for s in out["seed_results"]]
        except ValueError:
            pass
    if "seeds" not in out and isinstance(out.get("seed"), int):
        out["seeds"] = [out["seed"]]
    return out


def submission_seed_results(sub: dict | None) -> dict[str, dict]:
    """``seed_results`` as {seed string: dict}; accepts a dict or a list of dicts with a ``seed``."""
    res = (sub or {}).get("seed_results") or {}
    if isinstance(res, list):
        res = {str(r.get("seed")): r for r in res if isinstance(r, dict)}
    return {str(k): v for k, v in res.items() if isinstance(v, dict)} if isinstance(res, dict) else {}


@dataclass
class Record:
    folder: Path
    submission: dict | None
    logs: list[SeedLog]  # one counted run per seed
    train_gpt: Path | None  # the entry point (train_gpt.py or the renamed one)
    model_files: list[Path]
    tokenizers: list[Path]
    byte_tables: list[Path]
    audits: list[Path]
    files: list[str]  # top-level file names
    submission_error: str | None = None  # why submission.json could not be read, if it could not
    submission_name: str | None = None  # the file it came from
    extra_runs: list[SeedLog] = field(default_factory=list)  # other full runs of a counted seed
    copies: list[tuple[SeedLog, SeedLog]] = field(default_factory=list)  # (copy, the log it repeats)
    rescored: list[tuple[SeedLog, SeedLog]] = field(default_factory=list)  # (eval-only log, train log)
    notes: list[str] = field(default_factory=list)  # how the folder was read, for the report
    sources: Sources | None = None

    @property
    def is_record_folder(self) -> bool:
        return "README.md" in self.files or self.submission_name is not None

    @property
    def seeds(self) -> list[int]:
        return [lg.seed for lg in self.logs if lg.seed is not None]

    @property
    def scored_logs(self) -> list[SeedLog]:
        return [lg for lg in self.logs if lg.val_bpb is not None]

    @property
    def all_runs(self) -> list[SeedLog]:
        return [*self.logs, *self.extra_runs]

    def seed_bpbs(self) -> list[float]:
        """Per-seed val_bpb: from the logs, else from submission.json's seed_results."""
        vals = [lg.val_bpb for lg in self.scored_logs]
        claimed = [float(r["val_bpb"]) for r in submission_seed_results(self.submission).values()
                   if isinstance(r.get("val_bpb"), (int, float))]
        return claimed if len(claimed) > len(vals) else vals

    def claimed_bpb(self):
        """submission.json's val_bpb (a ``Num`` remembering its decimals), if it states one."""
        v = (self.submission or {}).get("val_bpb")
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def mean_bpb(self) -> float | None:
        if self.claimed_bpb() is not None:
            return float(self.claimed_bpb())
        vals = self.seed_bpbs()
        return statistics.mean(vals) if vals else None

    def tokens_per_byte(self) -> float | None:
        tpb = [lg.tokens_per_byte for lg in self.logs if lg.tokens_per_byte]
        if tpb:
            return sum(tpb) / len(tpb)
        sub = self.submission or {}
        if isinstance(sub.get("val_loss"), (int, float)) and isinstance(sub.get("val_bpb"), (int, float)) and sub["val_loss"]:
            return sub["val_bpb"] * math.log(2) / sub["val_loss"]
        return None


def find_log_files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if (not p.is_file() or p.suffix not in LOG_SUFFIXES or p.name.lower() in NOT_LOGS or len(rel.parts) > 3
                or rel.parts[0] in ("tokenizers", "tokenizer", "data")):
            continue
        out.append(p)
    return out


def _same_run(a: SeedLog, b: SeedLog) -> bool:
    return (a.val_bpb, a.train_ms, a.steps) == (b.val_bpb, b.train_ms, b.steps) and a.val_bpb is not None


def _claimed_for(sub: dict | None, lg: SeedLog) -> float | None:
    res = submission_seed_results(sub)
    for s in (lg.seed, lg.name_seed):
        r = res.get(str(s)) if s is not None else None
        if r and isinstance(r.get("val_bpb"), (int, float)):
            return float(r["val_bpb"])
    return None


def _pick_run(runs: list[SeedLog], entry_size: int | None, sub: dict | None) -> SeedLog:
    shipped = [r for r in runs if entry_size is not None and r.code_bytes == entry_size]
    if len(shipped) == 1:
        return shipped[0]
    named = [r for r in runs if (c := _claimed_for(sub, r)) is not None and r.val_bpb is not None
             and abs(c - r.val_bpb) <= 5e-5]
    if len(named) == 1:
        return named[0]
    return runs[-1]


def _score_on_common_label(logs: list[SeedLog], notes: list[str]) -> None:
    if len(logs) < 2:
        return
    for lg in logs:
        others = [o.score_label for o in logs if o is not lg and o.score_label]
        if not others or lg.score_label in others:
            continue
        common = Counter(others).most_common(1)[0][0]
        cands = [i for i, e in enumerate(lg.evals) if e.label == common and not e.diagnostic]
        if cands:
            ev = lg.evals[cands[-1]]
            later = [e.label for e in lg.evals[cands[-1] + 1:] if not e.diagnostic]
            notes.append(f"{lg.evidence()}: scored on {common} like the other seeds; the later "
                         f"{', '.join(later)} (val_bpb {lg.val_bpb:.8g}) is an extra evaluation, not its score")
            lg.use_score(ev)


def read_record(folder: str | Path) -> Record:
    folder = Path(folder)
    if not folder.is_dir():
        raise PgolfError(f"{folder}: no such record folder")
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    sub_path = folder / "submission.json"
    if not sub_path.is_file():
        alts = sorted(folder.glob("submission*.json"))
        sub_path = alts[0] if len(alts) == 1 else sub_path
    submission, submission_error, submission_name = None, None, None
    if sub_path.is_file():
        submission_name = sub_path.name
        try:  # a broken submission.json fails its rule; the other rules still report their evidence
            submission = normalize_submission(read_json(sub_path))
        except PgolfError as e:
            submission_error = str(e)
    sources = code_that_runs(folder)
    entry_size = sources.entry.size if sources.entry else None
    notes: list[str] = []
    parsed = []
    for p in find_log_files(folder):
        rel = p.relative_to(folder).as_posix()
        lg = parse_log(p, rel)
        if lg.val_bpb is None and not lg.trained:
            continue  # not a run log (a setup transcript, a summary)
        if lg.runs > 1:
            notes.append(f"{rel} holds {lg.runs} runs one after another; the last is read")
        parsed.append((lg, p.read_bytes()))
    groups: dict[object, list[tuple[SeedLog, bytes]]] = {}
    for lg, raw in parsed:
        groups.setdefault(lg.seed if lg.seed is not None else lg.name, []).append((lg, raw))
    logs, extra, copies, rescored = [], [], [], []
    for key, members in groups.items():
        kept: list[tuple[SeedLog, bytes]] = []
        for lg, raw in sorted(members, key=lambda m: (m[0].name_seed != m[0].seed, m[0].name)):
            twin = next((k for k, kraw in kept if kraw == raw or _same_run(k, lg)), None)
            if twin is not None:
                copies.append((lg, twin))
            else:
                kept.append((lg, raw))
        trains = sorted((lg for lg, _ in kept if lg.trained), key=lambda lg: lg.name)
        evals = sorted((lg for lg, _ in kept if not lg.trained), key=lambda lg: lg.name)
        if trains:
            chosen = _pick_run(trains, entry_size, submission)
            extra += [r for r in trains if r is not chosen]
            logs.append(chosen)
            if evals:
                rescored.append((evals[-1], chosen))
        elif evals:
            logs.append(evals[-1])
    # a copy without a seed of its own (train.log) that repeats a seed's run is a copy, not a seed
    seeded = [lg for lg in logs if lg.seed is not None]
    for lg in [lg for lg in logs if lg.seed is None]:
        twin = next((s for s in seeded if _same_run(s, lg)), None)
        if twin is not None:
            logs.remove(lg)
            copies.append((lg, twin))
    logs.sort(key=lambda lg: lg.name)
    _score_on_common_label([lg for lg in logs if lg.trained], notes)
    for ev_log, train in rescored:
        notes.append(f"{train.evidence()} is scored by {ev_log.evidence()}, an evaluation-only run of its "
                     f"artifact: val_bpb {ev_log.val_bpb:.8g} (the training log's own {train.score_label} "
                     f"gave {train.val_bpb:.8g})")
        train.own_bpb, train.score_from = train.val_bpb, ev_log.evidence()
        train.use_score(next(e for e in reversed(ev_log.evals) if not e.diagnostic))
        train.eval_s = ev_log.eval_s
    for c, twin in copies:
        notes.append(f"{c.evidence()} repeats {twin.evidence()} (a copy, not another seed)")
    for r in extra:
        notes.append(f"{r.evidence()} is another run of seed {r.seed}; "
                     f"{next(lg for lg in logs if lg.seed == r.seed).evidence()} is the one counted")
    search = [folder, folder / "tokenizers", folder / "tokenizer"]
    tokenizers = sorted(p for d in search if d.is_dir() for p in d.glob("*.model"))
    byte_tables = sorted(p for d in search if d.is_dir() for p in d.glob("*byte_table*.json"))
    models = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    audits = sorted(p for pat in ("*audit*.json", "*audit*.json.gz") for p in folder.glob(pat))
    return Record(folder=folder, submission=submission, logs=logs,
                  train_gpt=sources.entry.path if sources.entry else None, model_files=models,
                  tokenizers=tokenizers, byte_tables=byte_tables, audits=audits, files=files,
                  submission_error=submission_error, submission_name=submission_name, extra_runs=extra,
                  copies=copies, rescored=rescored, notes=notes, sources=sources)
