"""The audit trail of an evaluation, and the checker that proves it legal.

While scoring, every access to the val stream goes through :class:`ValTokens`, which logs the
positions it hands out; the eval code reports each scoring (:meth:`AuditTrail.score`: the
targets whose losses were added to the totals) and each parameter update
(:meth:`AuditTrail.update`, or an optimizer wrapped by :meth:`AuditTrail.wrap_optimizer`). Every
event gets the next step number and the positions read since the previous event (plus any the
caller declares). Sampled score positions also record the sum of the probabilities over the
whole vocabulary and the probability of the target.

The report (``--audit FILE``) is JSON::

    {"format": "pgolf-eval-audit/1", "ok": bool, "strategy": str, "tokens_scored": int,
     "n_tokens": int, "vocab_size": int, "structure": [...],
     "checks": {name: {"ok": bool, "detail": str}},
     "ranks": [{"rank": r, "events": [{"step": s, "kind": "score" | "update" | "read" | "sync",
                                       "targets": [[lo, hi], ...], "reads": [[lo, hi], ...],
                                       "note": str}, ...],
                "samples": [{"pos": p, "step": s, "prob_sum": x, "p_target": y, "nll": z,
                             "vocab": v}, ...]}, ...]}

Ranges are half-open token positions. A FILE ending in ``.gz`` is written gzip-compressed (a
whole-val TTT trail is large); :func:`check_audit` reads either. :func:`check_audit` re-runs the checks from the recorded
trail alone: (1) every target ``1..n-1`` scored exactly once; (2) every token an update read was
scored at an earlier step; (3) at sampled positions the distribution covers the full vocabulary
and sums to 1 within 1e-4, and the recorded loss is that distribution's; (4) nothing read a val
token before it was scored (a scoring may read its own targets and earlier-scored tokens only).
Position 0 (the opening BOS, never a target) is free to read. Each rank's trail is checked on its
own, exactly-once over all ranks together. A ``sync`` event is a point every rank reaches
together (a barrier before work that uses every rank's scores, such as a global TTT phase):
after its k-th sync a rank may use what any rank scored before that rank's k-th sync; every
rank must record the same number of syncs.
``structure`` lists what was learnt about the stream without reading token values as data
(the BOS positions, i.e. document lengths), which document-aware scoring needs up front.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np

from pgolf.data.tokenizer import BOS_ID
from pgolf.errors import PgolfError
from pgolf.io import atomic_write

FORMAT = "pgolf-eval-audit/1"
PROB_TOL = 1e-4
NLL_TOL = 1e-3
CAUSAL_TOL = 2e-2  # nats: bf16 batched vs single-sequence forwards differ by far less


def _merge(ranges: list[tuple[int, int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


class AuditTrail:
    """Collects the events of one rank's evaluation."""

    def __init__(self, n_tokens: int, vocab_size: int, rank: int = 0):
        self.n_tokens, self.vocab_size, self.rank = n_tokens, vocab_size, rank
        self.step = 0
        self.events: list[dict] = []
        self.samples: list[dict] = []
        self.structure: list[str] = []
        self.bos: list[int] = []
        self._pending: list[tuple[int, int]] = []

    def read(self, lo: int, hi: int) -> None:
        self._pending.append((int(lo), int(hi)))

    def _emit(self, kind: str, targets=(), reads=(), note: str = "") -> int:
        step = self.step
        self.events.append({"step": step, "kind": kind, "targets": _merge([tuple(r) for r in targets]),
                            "reads": _merge(self._pending + [tuple(r) for r in reads]), "note": note})
        self._pending = []
        self.step += 1
        return step

    def score(self, targets, reads=(), note: str = "") -> int:
        """The losses of ``targets`` were just added to the totals."""
        return self._emit("score", targets, reads, note)

    def update(self, reads=(), note: str = "") -> int:
        """Parameters just changed, using the tokens read since the last event (and ``reads``)."""
        return self._emit("update", (), reads, note)

    def flush(self, note: str = "end") -> None:
        """Reads not attributed to any event yet become a final 'read' event."""
        if self._pending:
            self._emit("read", (), (), note)

    def sample(self, pos: int, prob_sum: float, p_target: float, nll: float, vocab: int,
               nll_prefix: float | None = None) -> None:
        """A scored position's distribution; ``nll_prefix``: its loss from a forward over the prefix only."""
        row = {"pos": int(pos), "step": self.step, "prob_sum": float(prob_sum), "p_target": float(p_target),
               "nll": float(nll), "vocab": int(vocab)}
        if nll_prefix is not None:
            row["nll_prefix"] = float(nll_prefix)
        self.samples.append(row)

    def sync(self, note: str = "") -> int:
        """Every rank reaches this point together (call it on all ranks, in the same order)."""
        self.flush("read before a sync")
        return self._emit("sync", (), (), note)

    def wrap_optimizer(self, opt, note: str = "ttt"):
        return _AuditedOptimizer(opt, self, note)

    def rank_record(self) -> dict:
        self.flush()
        return {"rank": self.rank, "events": self.events, "samples": self.samples}


class _AuditedOptimizer:
    """An optimizer whose every step is logged as an update."""

    def __init__(self, opt, trail: AuditTrail, note: str):
        self.opt, self.trail, self.note = opt, trail, note

    def step(self, *a, **k):
        out = self.opt.step(*a, **k)
        self.trail.update(note=self.note)
        return out

    def __getattr__(self, name):
        return getattr(self.opt, name)


class ValTokens:
    """The val stream behind a logging gate: slicing it records the positions read."""

    def __init__(self, tokens: np.ndarray, trail: AuditTrail | None = None):
        self._tokens = tokens
        self.trail = trail

    def __len__(self) -> int:
        return len(self._tokens)

    def __getitem__(self, sl: slice) -> np.ndarray:
        if not isinstance(sl, slice) or sl.step not in (None, 1):
            raise TypeError("ValTokens supports contiguous slices only")
        lo, hi, _ = sl.indices(len(self._tokens))
        if self.trail is not None and hi > lo:
            self.trail.read(lo, hi)
        return self._tokens[lo:hi]

    def bos_positions(self, bos_id: int) -> np.ndarray:
        """Where documents start: structure (lengths), not token values; noted in the audit."""
        pos = np.flatnonzero(self._tokens == bos_id)
        if self.trail is not None and "bos_positions" not in self.trail.structure:
            self.trail.structure.append("bos_positions")
            self.trail.bos = [int(p) for p in pos]
        return pos


def build_report(records: list[dict], strategy: str, n_tokens: int, vocab_size: int,
                 structure: list[str], bos: list[int] = ()) -> dict:
    """The audit report of all ranks' records, with the checks run on it."""
    report = {"format": FORMAT, "strategy": strategy, "n_tokens": int(n_tokens), "vocab_size": int(vocab_size),
              "structure": list(structure), "bos_positions": list(bos), "ranks": records}
    report["tokens_scored"] = sum(hi - lo for r in records for e in r["events"] if e["kind"] == "score"
                                  for lo, hi in e["targets"])
    report.update(check_audit(report))
    return report


def write_report(path: str | Path, report: dict) -> None:
    path = Path(path)
    try:
        data = json.dumps(report, separators=(",", ":")).encode()
        atomic_write(path, gzip.compress(data, 6) if path.suffix == ".gz" else data)
    except OSError as e:
        raise PgolfError(f"{path}: cannot write the audit ({e})") from None


def _load(report_or_path) -> dict:
    if isinstance(report_or_path, dict):
        return report_or_path
    path = Path(report_or_path)
    try:
        raw = path.read_bytes()
        report = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise PgolfError(f"{path}: cannot read the audit ({e})") from None
    if report.get("format") != FORMAT:
        raise PgolfError(f"{path}: not a {FORMAT} file")
    return report


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_audit(report_or_path, tokens: np.ndarray | None = None, bos_id: int = BOS_ID) -> dict:
    """Re-run the four checks from a report (dict or path); ``{"ok": bool, "checks": {...}}``.

    With the val ``tokens`` at hand, the recorded stream length and BOS positions are verified
    against them too (check ``structure``).
    """
    rep = _load(report_or_path)
    n = int(rep["n_tokens"])
    checks: dict[str, dict] = {}
    bos = np.asarray(rep.get("bos_positions", []), dtype=np.int64)
    if tokens is not None:
        real = np.flatnonzero(np.asarray(tokens) == bos_id)
        ok = len(tokens) == n and (not len(bos) or np.array_equal(real, bos))
        checks["structure"] = {"ok": bool(ok), "detail": "stream length and BOS positions match the val tokens" if ok
                               else "the recorded stream length or BOS positions differ from the val tokens"}
    count = np.zeros(n, dtype=np.int32)
    for r in rep["ranks"]:
        for e in r["events"]:
            if e["kind"] == "score":
                for lo, hi in e["targets"]:
                    count[lo:hi] += 1
    bad = np.flatnonzero(count[1:] != 1) + 1
    if len(bad):
        p = int(bad[0])
        checks["scored_exactly_once"] = {"ok": False, "detail": f"{len(bad)} of {n - 1} targets not scored exactly "
                                         f"once (first: position {p}, scored {int(count[p])} times)"}
    else:
        checks["scored_exactly_once"] = {"ok": True, "detail": f"all {n - 1} targets scored once"}
    if count[0]:
        checks["scored_exactly_once"] = {"ok": False, "detail": "position 0 has no prefix and cannot be scored"}
    n_scored = int(count.sum())
    del count

    # scored_sync[p]: how many syncs the scoring rank had passed when it scored p; another rank
    # may use p once it has passed one more sync than that
    syncs = [sum(e["kind"] == "sync" for e in r["events"]) for r in rep["ranks"]]
    scored_sync = np.full(n, np.iinfo(np.int32).max, dtype=np.int32)
    for r in rep["ranks"]:
        k = 0
        for e in r["events"]:
            k += e["kind"] == "sync"
            if e["kind"] == "score":
                for lo, hi in e["targets"]:
                    scored_sync[lo:hi] = np.minimum(scored_sync[lo:hi], k)
    upd_fail, read_fail, n_updates = [], [], 0
    if len(set(syncs)) > 1:
        read_fail.append(f"the ranks recorded different numbers of sync points ({syncs})")
    for r in rep["ranks"]:
        at = np.full(n, np.iinfo(np.int32).max, dtype=np.int32)  # step at which this rank scored each position
        for e in r["events"]:
            if e["kind"] == "score":
                for lo, hi in e["targets"]:
                    at[lo:hi] = np.minimum(at[lo:hi], e["step"])
        at[0] = -1  # the opening token: free
        at[bos[(bos >= 0) & (bos < n)]] = -1  # document starts: structure known up front, free to read
        passed = 0  # syncs this rank has passed
        for e in r["events"]:
            passed += e["kind"] == "sync"
            n_updates += e["kind"] == "update"
            for lo, hi in e["reads"]:
                lo, hi = max(0, lo), min(n, hi)
                if e["kind"] == "score":
                    # a scoring reads its targets' prefixes: nothing after its last target (that the
                    # model used only the prefix of each target is the sampled causality check)
                    end = max((b for _, b in e["targets"]), default=0)
                    late = np.arange(lo, hi) >= end
                else:
                    late = (at[lo:hi] >= e["step"]) & (scored_sync[lo:hi] >= passed)
                if late.any():
                    p = lo + _first_bad(late)
                    msg = (f"rank {r['rank']} step {e['step']} ({e['kind']}{': ' + e['note'] if e['note'] else ''}) "
                           f"read position {p} before it was scored")
                    (upd_fail if e["kind"] == "update" else read_fail).append(msg)
    checks["score_before_update"] = (
        {"ok": False, "detail": f"{len(upd_fail)} update(s) used unscored tokens; first: {upd_fail[0]}"} if upd_fail
        else {"ok": True, "detail": f"{n_updates} update(s), each used only tokens scored at an earlier step"})
    checks["no_read_before_score"] = (
        {"ok": False, "detail": f"{len(read_fail)} event(s) read unscored tokens; first: {read_fail[0]}"} if read_fail
        else {"ok": True, "detail": "no event read a val token before it was scored (scorings: only their "
                                    "targets' prefixes)"})

    samples = [s for r in rep["ranks"] for s in r["samples"]]
    vocab = int(rep["vocab_size"])
    norm_fail = []
    for s in samples:
        if s["vocab"] != vocab:
            norm_fail.append(f"position {s['pos']}: distribution over {s['vocab']} of {vocab} tokens")
        elif not abs(s["prob_sum"] - 1.0) <= PROB_TOL:
            norm_fail.append(f"position {s['pos']}: probabilities sum to {s['prob_sum']:.6f}")
        elif not (s["p_target"] > 0 and abs(-math.log(s["p_target"]) - s["nll"]) <= NLL_TOL * max(1.0, s["nll"])):
            norm_fail.append(f"position {s['pos']}: scored loss {s['nll']:.5f} is not -log p(target) "
                             f"of the sampled distribution")
    if not samples and rep.get("tokens_scored", n_scored) > 0:
        norm_fail.append("no sampled positions recorded")
    causal_fail = [s for s in samples if "nll_prefix" in s and not abs(s["nll"] - s["nll_prefix"]) <= CAUSAL_TOL]
    checks["causal_scoring"] = (
        {"ok": False, "detail": f"{len(causal_fail)} sampled position(s) scored differently from their prefix alone; "
                                f"first: position {causal_fail[0]['pos']} ({causal_fail[0]['nll']:.4f} vs "
                                f"{causal_fail[0]['nll_prefix']:.4f} nats)"} if causal_fail
        else {"ok": True, "detail": f"sampled losses equal a forward over the prefix alone within {CAUSAL_TOL} nats"})
    checks["normalized_distribution"] = (
        {"ok": False, "detail": f"{len(norm_fail)} bad sample(s); first: {norm_fail[0]}"} if norm_fail
        else {"ok": True, "detail": f"{len(samples)} sampled positions sum to 1 within {PROB_TOL} over {vocab} tokens"})
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
