"""The rules `pgolf check` applies to a record folder; each returns a verdict with its evidence.

A verdict is ``{"rule", "status", "detail", "notes", "numbers"}``. ``status`` is one of

- ``fail``: a rule of the challenge is broken (the evidence says which and by how much);
- ``warn``: an inconsistency a reviewer should see, of a kind the maintainers accepted;
- ``pass``: the rule holds (``notes`` may still say how, e.g. an overrun of one step);
- ``n/a``: the folder or the command line lacks what the rule needs.

``detail`` is one line; ``notes`` lists the further observations; ``numbers`` the values used.
docs/referee.md states every rule with its level and a folder of the real leaderboard that shows it.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pgolf.artifact.size import CAP_BYTES
from pgolf.referee.records import PER_SEED_KEYS, Record, SeedLog, submission_seed_results, tolerance
from pgolf.referee.verdict import FAIL, NA, PASS, WARN, Findings, verdict

TRAIN_LIMIT_S = 600.0
EVAL_LIMIT_S = 600.0
OVERRUN_STEPS = 2  # the clock is checked after a step: up to this many steps past 600 s pass
GPUS = 8
PRACTICE_ALPHA = 0.25  # the maintainers' one-sided Welch threshold in the audited rows
SWITCH_ON = {"true", "on", "yes"}


def _seed_name(lg: SeedLog) -> str:
    return f"seed {lg.seed} ({lg.evidence()})" if lg.seed is not None else lg.evidence()


def _n(x: int) -> str:
    return f"{x:,}"


def non_record(rec: Record) -> bool:
    track = str((rec.submission or {}).get("track") or "")
    return "non_record" in track or "non-record" in track or any("non_record" in p for p in rec.folder.parts)


# --- required files ---------------------------------------------------------------------------

def required_files(rec: Record) -> dict:
    f = Findings()
    if not rec.is_record_folder:
        what = ", ".join(rec.files) or "nothing"
        return verdict("required_files", FAIL, f"not a record folder: no README.md and no submission.json (it holds {what})")
    if "README.md" not in rec.files:
        f.add(FAIL, "no README.md")
    if rec.submission_name is None:
        f.add(FAIL, "no submission.json")
    elif rec.submission_name != "submission.json":
        f.add(WARN, f"the submission is {rec.submission_name}, not submission.json")
    if rec.train_gpt is None:
        f.add(FAIL, "no train_gpt.py (nor one train_gpt*.py)")
    elif rec.train_gpt.name != "train_gpt.py":
        f.add(WARN, f"the code is {rec.train_gpt.name}, not train_gpt.py (the folder must run as train_gpt.py)")
    if not rec.logs:
        f.add(FAIL, "no run log (*.log / *.txt with a training time or a score)")
    names = sorted({lg.evidence() for lg in rec.all_runs})
    ok = f"README.md, {rec.submission_name}, {rec.train_gpt.name if rec.train_gpt else '?'} and {len(names)} run log(s): " \
         + ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
    if "requirements.txt" not in rec.files:
        f.add(PASS, "no requirements.txt (fine when the base image suffices)")
    return verdict("required_files", f.status(), f.detail(ok), f.notes())


# --- artifact size ----------------------------------------------------------------------------

def code_accounting(rec: Record) -> tuple[dict, str, int | None]:
    """Counted code bytes per run log (by name; '' for the folder's default), the rule used, and
    the default when no log states its own."""
    src = rec.sources
    extras = src.extra if src else []
    extra_bytes = sum(c.size for c in extras)
    plus = "".join(f" + {c.rel} {_n(c.size)} ({c.why})" for c in extras)
    packed = {lg.evidence(): lg.code_bytes_compressed for lg in rec.all_runs if lg.code_bytes_compressed is not None}
    if src is None or src.entry is None:
        logged = [lg.code_bytes for lg in rec.all_runs if lg.code_bytes is not None]
        if not logged:
            return {}, "no code file and no logged code size", None
        return {}, f"the logged Code size ({_n(max(logged))} bytes; the folder ships no code)", max(logged)
    if packed:
        raw = {lg.code_bytes for lg in rec.all_runs if lg.code_bytes is not None}
        counted = {k: v + extra_bytes for k, v in packed.items()}
        rule = (f"the compressed self-extracting wrapper the logs state ({'/'.join(_n(v) for v in sorted(set(packed.values())))} "
                f"bytes for {'/'.join(_n(v) for v in sorted(raw))} bytes of source; the shipped {src.entry.rel} is "
                f"{_n(src.entry.size)} bytes readable){plus}")
        return counted, rule, max(packed.values()) + extra_bytes
    wrapper = f", a {src.wrapper} self-extracting wrapper" if src.wrapper else ""
    return {}, f"{src.entry.rel} {_n(src.entry.size)} bytes{wrapper}{plus}", src.total


def _model_bytes(lg: SeedLog) -> int | None:
    if lg.model_bytes is not None:
        return lg.model_bytes
    if lg.total_bytes is not None and lg.code_bytes is not None:
        return lg.total_bytes - lg.code_bytes
    return None


def artifact_size(rec: Record) -> dict:
    per_log, rule, default = code_accounting(rec)
    f = Findings()
    totals: list[tuple[int, str]] = []
    for m in rec.model_files:
        if default is not None:
            totals.append((default + m.stat().st_size, f"code {_n(default)} + {m.name} {_n(m.stat().st_size)}"))
    for lg in rec.all_runs:
        code = per_log.get(lg.evidence(), default)
        model = _model_bytes(lg)
        if model is not None and code is not None:
            totals.append((code + model, f"{_seed_name(lg)}: code {_n(code)} + model {_n(model)}"))
        if lg.total_bytes is not None and lg.total_bytes > CAP_BYTES:
            f.add(FAIL, f"{_seed_name(lg)} logs its own total of {_n(lg.total_bytes)} bytes, "
                        f"{_n(lg.total_bytes - CAP_BYTES)} over the cap")
    src = rec.sources
    if src is not None:
        for u in src.unreadable:
            f.add(PASS, f"could not decode {u} here to follow what it runs")
        counted = {c.rel for c in src.files}
        others = sorted(p.relative_to(rec.folder).as_posix() for p in rec.folder.rglob("*")
                        if p.is_file() and p.suffix in (".py", ".cpp", ".cu", ".c", ".so")
                        and p.relative_to(rec.folder).as_posix() not in counted)
        if others:
            f.add(PASS, "not run by the entry point, not counted: " + ", ".join(others))
    if not totals:
        return verdict("artifact_size", f.status(NA) if f.items else NA,
                       f.detail("no model file, no logged model size" + ("" if default else " and no code")),
                       f.notes(), code_rule=rule)
    big, how = max(totals)
    if big > CAP_BYTES:
        f.add(FAIL, f"largest artifact {_n(big)} bytes ({how}), {_n(big - CAP_BYTES)} over the {_n(CAP_BYTES)} cap")
    ok = f"largest artifact {_n(big)} bytes ({how}), {_n(CAP_BYTES - big)} under the {_n(CAP_BYTES)} cap"
    return verdict("artifact_size", f.status(), f"{f.detail(ok)}; code counted as {rule}", f.notes(),
                   bytes_total=big, bytes_code=default, code_rule=rule)


# --- training time ----------------------------------------------------------------------------

def _train_level(lg: SeedLog) -> tuple[str, str]:
    sec = lg.train_ms / 1000
    step = (lg.step_ms or 0.0) / 1000
    gpus = lg.world_size or GPUS
    scale = gpus / GPUS if gpus < GPUS else 1.0
    eq, eq_step = sec * scale, step * scale
    where = f"{_seed_name(lg)}: {sec:.3f} s"
    hw = ""
    if scale < 1.0 and sec > TRAIN_LIMIT_S:
        hw = f" on {gpus} GPUs (= {eq:.3f} s on {GPUS})"
    over = eq - TRAIN_LIMIT_S
    if over <= 0:
        if hw:
            return WARN, f"{where}{hw}: the rule is {GPUS}xH100 in {TRAIN_LIMIT_S:.0f} s, this log ran other hardware for longer"
        return PASS, f"{where}"
    steps = over / eq_step if eq_step else float("inf")
    if not lg.stop_logged:
        return FAIL, (f"{where}{hw}, {over:.3f} s over {TRAIN_LIMIT_S:.0f} s and no wallclock stop logged: "
                      f"{'the forced step count ' + str(lg.steps) + '/' + str(lg.iterations) if lg.steps else 'the run'} ignored the clock")
    if steps <= OVERRUN_STEPS:
        level = WARN if hw else PASS
        return level, (f"{where}{hw}: {1000 * over:.0f} ms over, {steps:.1f} step(s) of {1000 * eq_step:.2f} ms "
                       f"with the wallclock stop logged (the stop check runs after a step)")
    return FAIL, (f"{where}{hw}, {over:.3f} s over the {TRAIN_LIMIT_S:.0f} s limit: {steps:.1f} steps of "
                  f"{1000 * eq_step:.2f} ms, more than the {OVERRUN_STEPS} in flight when the clock ran out")


def train_time(rec: Record) -> dict:
    timed = [lg for lg in rec.all_runs if lg.train_ms is not None]
    if not timed:
        return verdict("train_time", NA, "no train_time in any log")
    longest = max(timed, key=lambda lg: lg.train_ms)
    if non_record(rec):
        return verdict("train_time", NA, f"non-record track: training time is informational (longest {_seed_name(longest)}: "
                       f"{longest.train_ms / 1000:.3f} s)", seconds=longest.train_ms / 1000)
    f = Findings()
    steps_over = max((max(0.0, lg.train_ms / 1000 - TRAIN_LIMIT_S) / (lg.step_ms / 1000) for lg in timed
                      if lg.step_ms and (lg.world_size or GPUS) >= GPUS), default=None)
    for lg in timed:
        level, text = _train_level(lg)
        if level != PASS or lg.train_ms > TRAIN_LIMIT_S * 1000:
            f.add(level, text)
    ok = f"longest {_seed_name(longest)}: {longest.train_ms / 1000:.3f} s <= {TRAIN_LIMIT_S:.0f} s"
    if f.status() == PASS and f.items:
        ok = "; ".join(t for _, t in f.items)
    return verdict("train_time", f.status(), f.detail(ok), f.notes(), seconds=longest.train_ms / 1000,
                   steps_over=steps_over)


def calibration_time(rec: Record) -> dict:
    """Anything that reads training data counts against the 600 s: GPTQ calibration after the clock."""
    runs = [lg for lg in rec.all_runs if lg.train_ms is not None and (lg.calib_s is not None or lg.calib_self_s is not None)]
    if not runs:
        return verdict("calibration_time", NA, "no calibration after the training clock logged")
    f = Findings()
    longest = 0.0
    for lg in runs:
        if lg.calib_s is not None:
            total = lg.train_ms / 1000 + lg.calib_s
            longest = max(longest, total)
            text = (f"{_seed_name(lg)}: training {lg.train_ms / 1000:.3f} s + GPTQ calibration on training data "
                    f"{lg.calib_s:.1f} s = {total:.1f} s")
            f.add(WARN if total > TRAIN_LIMIT_S and not non_record(rec) else PASS,
                  text + (f" > {TRAIN_LIMIT_S:.0f} s" if total > TRAIN_LIMIT_S else ""))
        if lg.calib_self_s is not None:
            f.add(PASS, f"{_seed_name(lg)}: {lg.calib_self_s:.1f} s generating calibration data with the model after "
                        "the clock (no training data read)")
    ok = f"training + calibration on training data <= {TRAIN_LIMIT_S:.0f} s in every run"
    if not any(lg.calib_s is not None for lg in runs):
        ok = "calibration data generated by the model itself after the clock (no training data read)"
    elif longest:
        ok += f" (longest {longest:.1f} s)"
    return verdict("calibration_time", f.status(), f.detail(ok), f.notes(), seconds=longest or None)


def eval_time(rec: Record) -> dict:
    timed = [lg for lg in rec.all_runs if lg.eval_s is not None]
    if not timed:
        return verdict("eval_time", NA, "no eval_time / total_eval_time in any log")
    worst_log = max(timed, key=lambda lg: lg.eval_s)
    where = f"longest {_seed_name(worst_log)}" + (f" scored by {worst_log.score_from}" if worst_log.score_from else "")
    if non_record(rec):
        return verdict("eval_time", NA, f"non-record track: {where}: {worst_log.eval_s:.3f} s (informational)",
                       seconds=worst_log.eval_s)
    status = PASS if worst_log.eval_s <= EVAL_LIMIT_S else FAIL
    return verdict("eval_time", status, f"{where}: {worst_log.eval_s:.3f} s "
                   f"({'<=' if status == PASS else '>'} {EVAL_LIMIT_S:.0f} s)", seconds=worst_log.eval_s)


# --- submission.json against the logs -------------------------------------------------------

def _close(claimed, actual: float) -> bool:
    return abs(float(claimed) - actual) <= tolerance(claimed)


def _near(claimed, actual: float) -> bool:
    """Equal but for truncation, or rounding of the figures it was computed from: within one unit of
    its last written decimal."""
    places = getattr(claimed, "places", 8)
    return abs(float(claimed) - actual) <= 10.0 ** (-places) + 1e-9


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _compare_score(f: Findings, what: str, claimed, logs: list[SeedLog], attr: str, others: list[SeedLog],
                   fail_if_unmatched: bool, also: dict[str, float] | None = None) -> None:
    vals = [getattr(lg, attr) for lg in logs if getattr(lg, attr) is not None]
    if not _num(claimed) or not vals:
        return
    mean = statistics.mean(vals)
    if _close(claimed, mean):
        f.add(PASS, f"{what} {claimed} = the mean of {len(vals)} log(s)")
        return
    named = [lg for lg in logs if getattr(lg, attr) is not None and _close(claimed, getattr(lg, attr))]
    if named and len(vals) > 1:
        f.add(WARN, f"{what} {claimed} is {_seed_name(named[0])}'s score, not the mean {mean:.8g} of {len(vals)} seeds")
        return
    if _near(claimed, mean):
        f.add(WARN, f"{what} {claimed} vs the logs' mean {mean:.8g}: rounded or truncated figures")
        return
    prev = [getattr(lg, attr) for lg in others if getattr(lg, attr) is not None]
    if prev and (_close(claimed, statistics.mean(prev)) or _near(claimed, statistics.mean(prev))):
        f.add(WARN, f"{what} {claimed} is the mean of the other runs ({', '.join(lg.evidence() for lg in others)}), "
                    f"not of the counted ones ({mean:.8g})")
        return
    for label, value in (also or {}).items():
        if _close(claimed, value) or _near(claimed, value):
            f.add(WARN, f"{what} {claimed} is {label} ({value:.8g}), not a {what}")
            return
    text = f"{what} {claimed} matches neither the logs' mean {mean:.8g} nor any seed's score ({', '.join(f'{v:.8g}' for v in vals)})"
    f.add(FAIL if fail_if_unmatched else WARN, text)


def _compare_std(f: Findings, what: str, claimed, vals: list[float], others: list[float] | None = None) -> None:
    if not _num(claimed) or len(vals) < 2:
        return
    sample, pop = statistics.stdev(vals), statistics.pstdev(vals)
    if _close(claimed, sample):
        f.add(PASS, f"{what} = the sample std of {len(vals)} seeds")
    elif others and len(others) > 1 and any(_close(claimed, x) or _near(claimed, x)
                                            for x in (statistics.stdev(others), statistics.pstdev(others))):
        f.add(WARN, f"{what} {claimed} is the spread of the other runs, not of the counted ones ({sample:.3g})")
    elif _close(claimed, pop) or _near(claimed, pop):
        f.add(WARN, f"{what} {claimed} is the population std ({pop:.3g}), not the sample std ({sample:.3g})")
    elif _near(claimed, sample):
        f.add(WARN, f"{what} {claimed} vs the sample std {sample:.3g}: rounded figures")
    else:
        f.add(WARN, f"{what} {claimed} vs the logs' sample std {sample:.3g} (population {pop:.3g})")


def submission_agrees(rec: Record) -> dict:
    sub = rec.submission
    if rec.submission_error:
        return verdict("submission_agrees", FAIL, rec.submission_error)
    if sub is None:
        return verdict("submission_agrees", NA, "no submission.json")
    logs = rec.scored_logs
    if not logs:
        return verdict("submission_agrees", NA, "no log states a final val_bpb")
    f = Findings()
    if not (sub.get("author") or sub.get("github_id")):
        f.add(WARN, f"{rec.submission_name} names no author or github_id")
    if not _num(sub.get("val_bpb")):
        f.add(WARN, f"{rec.submission_name} states no val_bpb (the logs' mean is the score)")
    others = [lg for lg in rec.extra_runs if lg.val_bpb is not None]
    bpb_mean = statistics.mean(lg.val_bpb for lg in logs)
    _compare_score(f, "val_bpb", sub.get("val_bpb"), logs, "val_bpb", others, fail_if_unmatched=True)
    _compare_score(f, "val_loss", sub.get("val_loss"), logs, "val_loss", others, fail_if_unmatched=False,
                   also={"the mean val_bpb": bpb_mean})
    _compare_std(f, "val_bpb_std", sub.get("val_bpb_std"), [lg.val_bpb for lg in logs], [lg.val_bpb for lg in others])
    _compare_std(f, "val_loss_std", sub.get("val_loss_std"), [lg.val_loss for lg in logs if lg.val_loss is not None],
                 [lg.val_loss for lg in others if lg.val_loss is not None])
    for lg in rec.logs:
        if lg.name_seed is not None and lg.seed is not None and lg.name_seed != lg.seed:
            f.add(WARN, f"{lg.evidence()} is named for seed {lg.name_seed} but logs seed {lg.seed}")
    known = {str(s) for lg in rec.all_runs for s in (lg.seed, lg.name_seed) if s is not None}
    if isinstance(sub.get("seeds"), list):
        claimed = sorted(int(s) for s in sub["seeds"])
        missing = [s for s in claimed if str(s) not in known]
        if missing:
            f.add(FAIL, f"seeds {missing} claimed without a log (logs: {sorted(rec.seeds)})")
        unclaimed = [lg.seed for lg in rec.logs if lg.seed is not None and lg.seed not in claimed
                     and lg.name_seed not in claimed]
        if unclaimed:
            f.add(WARN, f"logs of seeds {unclaimed} not listed in seeds {claimed}")
        if not missing and not unclaimed:
            f.add(PASS, "seeds")
    by_seed: dict[str, list[SeedLog]] = {}
    for lg in rec.all_runs:
        for s in {lg.seed, lg.name_seed} - {None}:
            by_seed.setdefault(str(s), []).append(lg)
    code = _code_sizes(rec)
    for seed, res in submission_seed_results(sub).items():
        runs = by_seed.get(seed)
        if not runs:
            f.add(FAIL, f"seed_results[{seed}] has no log")
            continue
        counted = next((lg for lg in runs if lg in rec.logs), runs[0])
        _per_seed(f, seed, res, counted, runs, code)
    _bytes_claims(f, rec, sub)
    ok = f"{sum(1 for lv, _ in f.items if lv == PASS)} facts agree with {len(logs)} log(s)"
    return verdict("submission_agrees", f.status(), f.detail(ok), f.notes(),
                   logs_mean_bpb=bpb_mean, claimed_bpb=sub.get("val_bpb"))


def _code_sizes(rec: Record) -> set[int]:
    """Every code size a claim may honestly use: the logged ones, the shipped file, all that runs."""
    sizes = {lg.code_bytes for lg in rec.all_runs if lg.code_bytes is not None}
    sizes |= {lg.code_bytes_compressed for lg in rec.all_runs if lg.code_bytes_compressed is not None}
    if rec.sources and rec.sources.entry:
        sizes |= {rec.sources.entry.size, rec.sources.total}
    return sizes


def _per_seed(f: Findings, seed: str, res: dict, lg: SeedLog, runs: list[SeedLog], code: set[int]) -> None:
    for key, attr in (("val_bpb", "val_bpb"), ("val_loss", "val_loss")):
        claimed = res.get(key)
        if not _num(claimed) or getattr(lg, attr) is None:
            continue
        actual = getattr(lg, attr)
        if _close(claimed, actual):
            f.add(PASS, f"seed {seed} {key}")
            continue
        other = [r for r in runs if r is not lg and getattr(r, attr) is not None and _close(claimed, getattr(r, attr))]
        own = lg.own_bpb if key == "val_bpb" else None
        if other:
            f.add(WARN, f"seed {seed} {key} {claimed} is {other[0].evidence()}'s, not the counted {lg.evidence()}'s {actual:.8g}")
        elif own is not None and _close(claimed, own):
            f.add(WARN, f"seed {seed} {key} {claimed} is its training log's own score, not the re-scored {actual:.8g}")
        elif _near(claimed, actual):
            f.add(WARN, f"seed {seed} {key} {claimed} vs log {actual:.8g}: rounded")
        else:
            f.add(WARN, f"seed {seed} {key} {claimed} vs log {actual:.8g}")
    for key, attr, exact in (("steps", "steps", True), ("step_avg_ms", "step_avg_ms", False),
                             ("eval_time_s", "eval_s", False)):
        claimed = res.get(key)
        actual = getattr(lg, attr)
        if not _num(claimed) or actual is None:
            continue
        same = claimed == actual if exact else (_close(claimed, actual) or abs(claimed - actual) <= 0.05 * abs(actual) + 0.05)
        f.add(PASS if same else WARN, f"seed {seed} {key}" if same else f"seed {seed} {key} {claimed} vs log {actual:g} (stale)")
    claimed = res.get("artifact_bytes", res.get("bytes_total"))
    if isinstance(claimed, int):
        def sizes(run: SeedLog) -> set[int]:
            out = {run.total_bytes} - {None}
            model = _model_bytes(run)
            return out | ({model + c for c in code} if model is not None else set())

        own = sizes(lg)
        other = [r for r in runs if r is not lg and claimed in sizes(r)]
        if claimed in own:
            f.add(PASS, f"seed {seed} artifact_bytes")
        elif other:
            f.add(WARN, f"seed {seed} artifact_bytes {_n(claimed)} is {other[0].evidence()}'s, not the counted run's")
        elif own:
            f.add(WARN, f"seed {seed} artifact_bytes {_n(claimed)} vs log {' or '.join(_n(s) for s in sorted(own))} "
                        "(stale or partial)")


def _bytes_claims(f: Findings, rec: Record, sub: dict) -> None:
    code = _code_sizes(rec)
    totals = {lg.total_bytes for lg in rec.all_runs if lg.total_bytes is not None}
    per_seed = [lg.total_bytes for lg in rec.logs if lg.total_bytes is not None]
    for lg in rec.all_runs:
        m = _model_bytes(lg)
        if m is not None:
            totals |= {m + c for c in code}
    claimed = sub.get("bytes_total")
    if isinstance(claimed, int) and totals:
        if claimed in totals:
            f.add(PASS, "bytes_total")
        elif len(per_seed) > 1 and abs(claimed - statistics.mean(per_seed)) <= 1:
            f.add(WARN, f"bytes_total {_n(claimed)} is the mean of the seeds' totals, not the largest {_n(max(per_seed))}")
        else:
            f.add(WARN, f"bytes_total {_n(claimed)} vs the logs' totals {_n(min(totals))}..{_n(max(totals))}")
    claimed = sub.get("bytes_code")
    if isinstance(claimed, int) and code:
        f.add(PASS if claimed in code else WARN, "bytes_code" if claimed in code else
              f"bytes_code {_n(claimed)} vs the code files and logs {', '.join(_n(c) for c in sorted(code))}")


# --- one code, one configuration ------------------------------------------------------------

def _pathlike(key: str, value: str) -> bool:
    return ("/" in value or key.endswith(("_path", "_dir", "_file", "_files", "logfile")) or
            value.endswith((".pt", ".ptz", ".txt", ".log", ".model", ".bin", ".json")))


def _comparable(lg: SeedLog, seed_keys: set[str] = frozenset()) -> dict[str, str]:
    """The settings that must agree between seeds: not paths, not run names, not the seed itself
    under another name (``seed_keys``)."""
    return {k: v for k, v in lg.config.items() if k not in PER_SEED_KEYS and k not in seed_keys and not _pathlike(k, v)}


def _seed_keys(logs: list[SeedLog]) -> set[str]:
    """Keys that hold each log's own seed (the ternary script's ``s:42``), when the seeds differ."""
    if len({lg.seed for lg in logs}) < len(logs):
        return set()
    keys = set().union(*(lg.config for lg in logs))
    return {k for k in keys if all(lg.config.get(k) == str(lg.seed) for lg in logs)}


def _switch_on(key: str, value: str | None) -> bool:
    v = str(value).lower()
    return v in SWITCH_ON or (v == "1" and key.endswith(("_enabled", "_enable")))


def _extra_label_words(rec: Record, lg: SeedLog) -> set[str]:
    """Words of the evaluation labels this log wrote after its score (see records._score_on_common_label)."""
    words: set[str] = set()
    if lg.score_label is None:
        return words
    idx = max((i for i, e in enumerate(lg.evals) if e.label == lg.score_label), default=-1)
    for e in lg.evals[idx + 1:]:
        if not e.diagnostic:
            words |= set(e.label.lower().split("_")) - {"final", "int6", "int8", "exact", "quantized"}
    return words


def one_code_and_config(rec: Record) -> dict:
    logs = [lg for lg in rec.logs if lg.trained] or rec.logs
    f = Findings()
    src = rec.sources
    shipped = {c.size for c in src.files} if src and src.entry else set()
    ran = [lg for lg in logs if lg.code_bytes is not None]
    if shipped and ran:
        off = [lg for lg in ran if lg.code_bytes not in shipped]
        if off:
            files = " + ".join(f"{c.rel} {_n(c.size)}" for c in src.files)
            f.add(WARN, f"the shipped code ({files} bytes) is not the file "
                        + ", ".join(f"{_seed_name(lg)} ran ({_n(lg.code_bytes)})" for lg in off[:4])
                        + (" ..." if len(off) > 4 else ""))
    if not logs:
        return verdict("one_code_and_config", NA, "no logs")
    if len(logs) == 1:
        return verdict("one_code_and_config", f.status(), f.detail("one seed: nothing to compare"), f.notes())
    versions = {lg.code_version for lg in logs if lg.code_version and lg.code_version != "unknown"}
    if len(versions) > 1:
        f.add(WARN, "code versions differ: " + ", ".join(f"{_seed_name(lg)} {lg.code_version}" for lg in logs))
    sizes = {lg.code_bytes for lg in logs if lg.code_bytes is not None}
    seed_keys = _seed_keys(logs)
    cfgs = [_comparable(lg, seed_keys) for lg in logs]
    ref_i = max(range(len(logs)), key=lambda i: sum(1 for c in cfgs if c == cfgs[i]))  # the majority's config
    ref, ref_log = cfgs[ref_i], logs[ref_i]
    for lg, cfg in zip(logs, cfgs):
        if lg is ref_log:
            continue
        both = sorted(k for k in set(ref) & set(cfg) if ref[k] != cfg[k])
        only = sorted(set(ref) ^ set(cfg))
        extra_eval = _extra_label_words(rec, lg)
        for k in both:
            text = f"{_seed_name(lg)} ran {k}={cfg[k]} where {_seed_name(ref_log)} ran {ref[k]}"
            if extra_eval & set(k.split("_")):
                f.add(WARN, text + f" (it only added the evaluation after its score: {', '.join(sorted(extra_eval))})")
            else:
                f.add(FAIL, text)
        switched = [k for k in only if _switch_on(k, cfg.get(k, ref.get(k)))]
        for k in switched:
            who = lg if k in cfg else ref_log
            f.add(FAIL, f"{_seed_name(who)} ran {k}={(cfg if k in cfg else ref)[k]}, a setting the other seeds' code does not have")
        rest = [k for k in only if k not in switched]
        if rest:
            f.add(WARN, f"a development version of the code: {_seed_name(lg)} and {_seed_name(ref_log)} log different "
                        f"settings ({', '.join(f'{k}={cfg.get(k, ref.get(k))}' for k in rest[:5])}"
                        f"{' ...' if len(rest) > 5 else ''}) with the same values for the rest")
    if len(sizes) > 1 and not any(lv == FAIL for lv, _ in f.items):
        f.add(WARN, "code sizes differ (a development version with the same effective configuration): "
                    + ", ".join(f"{_seed_name(lg)} {_n(lg.code_bytes)}" for lg in logs if lg.code_bytes is not None))
    elif len(sizes) > 1:
        f.add(FAIL, "code sizes differ: " + ", ".join(f"{_seed_name(lg)} {_n(lg.code_bytes)}"
                                                       for lg in logs if lg.code_bytes is not None))
    ok = (f"{len(logs)} seeds: same configuration ({len(ref)} settings)" + (f", code {versions.pop()}" if len(versions) == 1 else "")
          + (f", code size {_n(next(iter(sizes)))}" if len(sizes) == 1 else ""))
    if not any(cfgs) and not versions and not sizes:
        return verdict("one_code_and_config", f.status(NA), f.detail("the logs state neither configuration nor code"), f.notes())
    return verdict("one_code_and_config", f.status(), f.detail(ok), f.notes())


# --- significance -----------------------------------------------------------------------------

def significance(rec: Record, reference_bpb: float | None, reference_seeds: list[float] | None) -> dict:
    from pgolf.referee.stats import significance as stats

    if reference_bpb is None:
        return verdict("significance", NA, "no reference (pass --against FOLDER or --sota-bpb X)")
    vals, tpb = rec.seed_bpbs(), rec.tokens_per_byte()
    if len(vals) < 2 or not tpb:
        return verdict("significance", WARN if tpb else NA,
                       f"{len(vals)} per-seed result(s): significance cannot be shown"
                       + ("" if tpb else ", tokens per byte unknown"))
    res = stats(vals, reference_bpb, tpb, reference_seeds)
    p, pw = res["p_margin_nats"], res["p_welch_plain"]
    readme = p is not None and p < res["alpha"]
    practice = pw is not None and pw < PRACTICE_ALPHA
    text = (f"mean {res['mean_bpb']:.5f} over {res['n']} seeds vs reference {reference_bpb:.5f}: README rule "
            f"(0.005 nats = {res['margin_bpb']:.5f} BPB at p < {res['alpha']}): p = {p:.3g}"
            + (f"; maintainers' practice (one-sided Welch vs {res['reference_n']} reference seeds, p < {PRACTICE_ALPHA}): "
               f"p = {pw:.3g}" if pw is not None else "; maintainers' practice: n/a without the reference's seeds")
            + (f"; seeds needed for the README rule: {res['seeds_needed']}" if res["seeds_needed"] else ""))
    status = PASS if readme else WARN if practice else FAIL
    return verdict("significance", status, text, **res)


# --- audit and data ---------------------------------------------------------------------------

def score_first_audit(rec: Record, data: str | Path | None = None) -> dict:
    if not rec.audits:
        return verdict("score_first_audit", NA, "no *audit*.json report in the folder")
    from pgolf.referee.records import read_json

    try:
        from pgolf.eval.audit import check_audit
    except ImportError:
        own = [(p.name, read_json(p).get("ok")) for p in rec.audits]
        return verdict("score_first_audit", NA, "pgolf.eval.audit is not installed; the report(s) say "
                       + ", ".join(f"{n}: ok={v}" for n, v in own))
    from pgolf.errors import PgolfError

    tokens, against = None, ""
    if data is not None:  # with the val tokens, the report's stream length and BOS positions are verified too
        from pgolf.data.paths import dataset_bos_id, resolve_data
        from pgolf.data.shards import load_split

        try:
            dataset_dir = resolve_data(data)[0]
            tokens, against = load_split(dataset_dir, "val"), " against the val tokens"
            bos_id = dataset_bos_id(dataset_dir)
        except PgolfError:
            tokens = None
    bad, good = [], []
    for p in rec.audits:
        try:
            res = check_audit(p, tokens, bos_id) if tokens is not None else check_audit(p)
        except (KeyError, TypeError, ValueError, PgolfError) as e:
            bad.append(f"{p.name} is not a readable audit report ({type(e).__name__}: {e})")
            continue
        failed = [k for k, c in (res.get("checks") or {}).items() if not (c or {}).get("ok")]
        (good if res.get("ok") else bad).append(f"{p.name}" + (f" (failed: {', '.join(failed)})" if failed else ""))
    if bad:
        return verdict("score_first_audit", FAIL, "audit fails: " + "; ".join(bad))
    if tokens is None:
        against = " (its length and documents not verified against the val split: pass --data)"
    return verdict("score_first_audit", PASS, "audit passes" + against + ": " + ", ".join(good))


def data_rules(rec: Record, data: str | Path | None) -> list[dict]:
    """The tokenizer byte-count proof and the train/val overlap check (both need --data)."""
    from pgolf.referee.dataproof import overlap_rule, tokenizer_rule

    return [tokenizer_rule(rec, data), overlap_rule(data)]
