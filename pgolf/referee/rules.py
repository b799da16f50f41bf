"""The rules `pgolf check` applies to a record folder; each returns a verdict with its evidence.

A verdict is ``{"rule", "status", "detail"}`` with status ``pass``, ``fail`` or ``not-checkable``
(the folder or the command line lacks what the rule needs). See docs/referee.md for each rule.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pgolf.artifact.size import CAP_BYTES
from pgolf.referee.records import PER_SEED_KEYS, Record, SeedLog, submission_seed_results, tolerance

PASS, FAIL, NA = "pass", "fail", "not-checkable"
TRAIN_LIMIT_S = 600.0
EVAL_LIMIT_S = 600.0
REQUIRED = ("README.md", "submission.json", "train_gpt.py")


def verdict(rule: str, status: str, detail: str, **extra) -> dict:
    return dict(rule=rule, status=status, detail=detail, **extra)


def _seed_name(lg: SeedLog) -> str:
    return f"seed {lg.seed} ({lg.path.name})" if lg.seed is not None else lg.path.name


def required_files(rec: Record) -> dict:
    missing = [f for f in REQUIRED if f not in rec.files]
    if not rec.logs:
        missing.append("a training log (*.log)")
    note = "" if "requirements.txt" in rec.files else "; no requirements.txt (fine when the base image suffices)"
    if missing:
        return verdict("required_files", FAIL, "missing " + ", ".join(missing) + note)
    return verdict("required_files", PASS, f"README.md, submission.json, train_gpt.py and {len(rec.logs)} log(s) present{note}")


def code_size(rec: Record) -> tuple[int | None, str]:
    if rec.train_gpt is not None:
        return rec.train_gpt.stat().st_size, "train_gpt.py"
    logged = {lg.code_bytes for lg in rec.logs if lg.code_bytes is not None}
    return (max(logged), "logged Code size (no train_gpt.py)") if logged else (None, "")


def artifact_size(rec: Record) -> dict:
    code, code_src = code_size(rec)
    totals: list[tuple[int, str]] = []
    for m in rec.model_files:
        if code is not None:
            totals.append((code + m.stat().st_size, f"{code_src} {code:,} + {m.name} {m.stat().st_size:,}"))
    for lg in rec.logs:
        if lg.model_bytes is not None and code is not None:
            totals.append((code + lg.model_bytes, f"{code_src} {code:,} + model {lg.model_bytes:,} logged in {lg.path.name}"))
        elif lg.total_bytes is not None:
            totals.append((lg.total_bytes, f"total {lg.total_bytes:,} logged in {lg.path.name}"))
    if not totals:
        return verdict("artifact_size", NA, "no model file, no logged model size and no train_gpt.py")
    worst, how = max(totals)
    status = PASS if worst <= CAP_BYTES else FAIL
    rel = f"{CAP_BYTES - worst:,} under" if status == PASS else f"{worst - CAP_BYTES:,} over"
    return verdict("artifact_size", status, f"largest artifact {worst:,} bytes ({how}), {rel} the {CAP_BYTES:,} cap",
                   bytes_total=worst, bytes_code=code)


def train_time(rec: Record) -> dict:
    timed = [lg for lg in rec.logs if lg.train_ms is not None]
    if not timed:
        return verdict("train_time", NA, "no train_time in any log")
    worst = max(timed, key=lambda lg: lg.train_ms)
    sec, step = worst.train_ms / 1000, (worst.step_avg_ms or 0.0) / 1000
    over = sec - TRAIN_LIMIT_S
    where = f"{_seed_name(worst)}: {sec:.3f} s"
    if over <= 0:
        return verdict("train_time", PASS, f"longest {where} <= {TRAIN_LIMIT_S:.0f} s", seconds=sec)
    if over < step:
        return verdict("train_time", PASS, f"longest {where}: {over:.3f} s over {TRAIN_LIMIT_S:.0f} s, less than one "
                       f"step ({1000 * step:.2f} ms), the step in flight when the clock ran out", seconds=sec)
    return verdict("train_time", FAIL, f"{where}, {over:.3f} s over the {TRAIN_LIMIT_S:.0f} s limit "
                   f"(more than one step of {1000 * step:.2f} ms)", seconds=sec)


def eval_time(rec: Record) -> dict:
    timed = [lg for lg in rec.logs if lg.eval_s is not None]
    if not timed:
        return verdict("eval_time", NA, "no eval_time / total_eval_time in any log")
    worst = max(timed, key=lambda lg: lg.eval_s)
    status = PASS if worst.eval_s <= EVAL_LIMIT_S else FAIL
    return verdict("eval_time", status, f"longest {_seed_name(worst)}: {worst.eval_s:.3f} s "
                   f"({'<=' if status == PASS else '>'} {EVAL_LIMIT_S:.0f} s)", seconds=worst.eval_s)


def _close(claimed, actual: float) -> bool:
    return abs(float(claimed) - actual) <= tolerance(claimed)


def submission_agrees(rec: Record) -> dict:
    sub = rec.submission
    if rec.submission_error:
        return verdict("submission_agrees", FAIL, rec.submission_error)
    if sub is None:
        return verdict("submission_agrees", NA, "no submission.json")
    scored = rec.scored_logs
    if not scored:
        return verdict("submission_agrees", NA, "no log states a final val_bpb")
    bad: list[str] = []
    ok: list[str] = []

    def compare(what: str, claimed, actual, exact: bool = False) -> None:
        if claimed is None or actual is None or not isinstance(claimed, (int, float)):
            return
        same = claimed == actual if exact else _close(claimed, actual)
        (ok if same else bad).append(f"{what} {claimed} vs logs {actual:.8g}" if not same else what)

    bpbs = [lg.val_bpb for lg in scored]
    compare("val_bpb", sub.get("val_bpb"), statistics.mean(bpbs))
    losses = [lg.val_loss for lg in scored if lg.val_loss is not None]
    if losses:
        compare("val_loss", sub.get("val_loss"), statistics.mean(losses))
    if len(bpbs) > 1:
        compare("val_bpb_std", sub.get("val_bpb_std"), statistics.stdev(bpbs))
    if len(losses) > 1:
        compare("val_loss_std", sub.get("val_loss_std"), statistics.stdev(losses))
    log_seeds = sorted(lg.seed for lg in rec.logs if lg.seed is not None)
    if isinstance(sub.get("seeds"), list):
        claimed = sorted(int(s) for s in sub["seeds"])
        if log_seeds and claimed != log_seeds:
            bad.append(f"seeds {claimed} vs logs {log_seeds}")
        elif not log_seeds and len(claimed) != len(rec.logs):
            bad.append(f"{len(claimed)} seeds claimed, {len(rec.logs)} log(s)")
        else:
            ok.append("seeds")
    code, _ = code_size(rec)

    def sizes(lg: SeedLog) -> set[int]:
        out = {lg.total_bytes} if lg.total_bytes is not None else set()
        if lg.model_bytes is not None and code is not None:
            out.add(lg.model_bytes + code)
        return out

    by_seed = {str(lg.seed): lg for lg in rec.logs if lg.seed is not None}
    for seed, res in submission_seed_results(sub).items():
        lg = by_seed.get(seed)
        if lg is None:
            bad.append(f"seed_results[{seed}] has no log")
            continue
        compare(f"seed {seed} val_bpb", res.get("val_bpb"), lg.val_bpb)
        compare(f"seed {seed} val_loss", res.get("val_loss"), lg.val_loss)
        compare(f"seed {seed} steps", res.get("steps"), lg.steps, exact=True)
        compare(f"seed {seed} step_avg_ms", res.get("step_avg_ms"), lg.step_avg_ms)
        compare(f"seed {seed} eval_time_s", res.get("eval_time_s"), lg.eval_s)
        claimed = res.get("artifact_bytes")
        if isinstance(claimed, int) and sizes(lg):
            (ok if claimed in sizes(lg) else bad).append(
                f"seed {seed} artifact_bytes" if claimed in sizes(lg) else
                f"seed {seed} artifact_bytes {claimed:,} vs logs {' or '.join(f'{s:,}' for s in sorted(sizes(lg)))}")
    all_sizes = [max(sizes(lg)) for lg in rec.logs if sizes(lg)]
    claimed = sub.get("bytes_total")
    if isinstance(claimed, int) and all_sizes:
        cands = {max(all_sizes)} | {s for lg in rec.logs for s in sizes(lg)}
        (ok if claimed in cands else bad).append(
            "bytes_total" if claimed in cands else f"bytes_total {claimed:,} vs logs (largest) {max(all_sizes):,}")
    claimed = sub.get("bytes_code")
    logged_code = {lg.code_bytes for lg in rec.logs if lg.code_bytes is not None}
    if isinstance(claimed, int) and (code is not None or logged_code):
        cands = logged_code | ({code} if code is not None else set())
        (ok if claimed in cands else bad).append(
            "bytes_code" if claimed in cands else f"bytes_code {claimed:,} vs train_gpt.py/logs {sorted(cands)}")
    if bad:
        return verdict("submission_agrees", FAIL, "; ".join(bad))
    if not ok:
        return verdict("submission_agrees", NA, "submission.json states nothing the logs can confirm")
    return verdict("submission_agrees", PASS, f"{len(ok)} facts agree with {len(scored)} log(s): " + ", ".join(ok[:8])
                   + (" ..." if len(ok) > 8 else ""))


def _comparable(cfg: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cfg.items() if k not in PER_SEED_KEYS and "/" not in v}


def one_code_and_config(rec: Record) -> dict:
    logs = rec.logs
    if len(logs) < 2:
        return verdict("one_code_and_config", PASS if logs else NA,
                       f"{len(logs)} log: nothing to compare" if logs else "no logs")
    bad = []
    versions = {lg.code_version for lg in logs if lg.code_version and lg.code_version != "unknown"}
    if len(versions) > 1:
        bad.append("code versions differ: " + ", ".join(f"{_seed_name(lg)} {lg.code_version}" for lg in logs))
    sizes = {lg.code_bytes for lg in logs if lg.code_bytes is not None}
    if len(sizes) > 1:
        bad.append("code sizes differ: " + ", ".join(f"{_seed_name(lg)} {lg.code_bytes}" for lg in logs))
    cfgs = [_comparable(lg.config) for lg in logs]
    if any(cfgs):
        ref = cfgs[0]
        for lg, cfg in zip(logs[1:], cfgs[1:]):
            diff = sorted(k for k in set(ref) | set(cfg) if ref.get(k) != cfg.get(k))
            if diff:
                shown = ", ".join(f"{k}={ref.get(k)} vs {cfg.get(k)}" for k in diff[:5])
                bad.append(f"{_seed_name(lg)} differs from {_seed_name(logs[0])}: {shown}")
    if bad:
        return verdict("one_code_and_config", FAIL, "; ".join(bad))
    if not any(cfgs) and not versions and not sizes:
        return verdict("one_code_and_config", NA, "the logs state neither configuration nor code")
    return verdict("one_code_and_config", PASS, f"{len(logs)} seeds: same configuration ({len(cfgs[0])} keys)"
                   + (f", code {versions.pop()}" if len(versions) == 1 else "")
                   + (f", code size {sizes.pop():,}" if len(sizes) == 1 else ""))


def significance(rec: Record, reference_bpb: float | None, reference_seeds: list[float] | None) -> dict:
    from pgolf.referee.stats import significance as stats

    if reference_bpb is None:
        return verdict("significance", NA, "no reference (pass --against FOLDER or --sota-bpb X)")
    vals, tpb = rec.seed_bpbs(), rec.tokens_per_byte()
    if len(vals) < 2 or not tpb:
        return verdict("significance", NA, f"{len(vals)} per-seed result(s)" + ("" if tpb else ", tokens per byte unknown"))
    res = stats(vals, reference_bpb, tpb, reference_seeds)
    p = res["p_margin_nats"]
    status = PASS if p is not None and p < res["alpha"] else FAIL
    return verdict("significance", status, f"mean {res['mean_bpb']:.5f} over {res['n']} seeds vs reference "
                   f"{reference_bpb:.5f} - {res['margin_bpb']:.5f} (0.005 nats): p = {p:.3g} "
                   f"({'<' if status == PASS else '>='} {res['alpha']}); 0.005-BPB margin: p = {res['p_margin_bpb']:.3g}"
                   + (f"; Welch vs {res['reference_n']} seeds: p = {res['p_welch']:.3g}" if res["p_welch"] is not None else "")
                   + (f"; seeds needed: {res['seeds_needed']}" if res["seeds_needed"] else ""), stats=res)


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
        from pgolf.data.paths import resolve_data
        from pgolf.data.shards import load_split

        try:
            tokens, against = load_split(resolve_data(data)[0], "val"), " against the val tokens"
        except PgolfError:
            tokens = None
    bad, good = [], []
    for p in rec.audits:
        try:
            res = check_audit(p, tokens) if tokens is not None else check_audit(p)
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
