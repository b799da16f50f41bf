"""Significance statistics of per-seed results, with no dependency beyond the standard library.

The t distribution's CDF comes from the regularized incomplete beta function, evaluated with a
continued fraction (modified Lentz). All scores are BPB; a margin stated in nats per token is
converted to BPB with the tokens per byte of the evaluation: ``bpb = nats / ln 2 * tokens/byte``.
"""

from __future__ import annotations

import math
from statistics import mean, stdev

from pgolf.errors import PgolfError

RECORD_MARGIN_NATS = 0.005  # a new record must beat the previous one by this much per token
STRICT_MARGIN_BPB = 0.005  # the stricter reading many entrants used
ALPHA = 0.01
MAX_SEEDS = 10_000


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (converges for x < (a+1)/(a+b+2))."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def one_sample_less(values: list[float], threshold: float) -> float | None:
    """One-sided p-value of H1: mean(values) < threshold (None with fewer than 2 values)."""
    n = len(values)
    if n < 2:
        return None
    m, s = mean(values), stdev(values)
    if s == 0:
        return 0.0 if m < threshold else 1.0
    return t_cdf((m - threshold) / (s / math.sqrt(n)), n - 1)


def welch_less(a: list[float], b: list[float]) -> float | None:
    """One-sided Welch p-value of H1: mean(a) < mean(b) (None unless both have 2+ values)."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
    diff = mean(a) - mean(b)
    if va + vb == 0:
        return 0.0 if diff < 0 else 1.0
    df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    return t_cdf(diff / math.sqrt(va + vb), df)


def seeds_needed(gain: float, std: float, alpha: float = ALPHA) -> int | None:
    """Fewest seeds n >= 2 whose one-sample test gives p < alpha when the mean sits ``gain`` below
    the threshold with spread ``std``; None when the mean does not beat the threshold at all."""
    if gain <= 0:
        return None
    if std == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if t_cdf(-gain * math.sqrt(n) / std, n - 1) < alpha:
            return n
    return None


def nats_to_bpb(nats: float, tokens_per_byte: float) -> float:
    return nats / math.log(2) * tokens_per_byte


def significance(bpb: list[float], reference_bpb: float, tokens_per_byte: float,
                 reference_seeds: list[float] | None = None) -> dict:
    """Everything `pgolf stats` reports, from per-seed BPB values and the reference."""
    if not bpb:
        raise PgolfError("stats: no per-seed results")
    values = [*bpb, reference_bpb, *(reference_seeds or []), tokens_per_byte or 0.0]
    if not all(math.isfinite(x) for x in values):
        raise PgolfError("stats: every value must be a finite number")
    if not tokens_per_byte or tokens_per_byte <= 0:
        raise PgolfError("stats: tokens per byte unknown (pass --tokens-per-byte, e.g. 0.4153 for sp1024)")
    n = len(bpb)
    m = mean(bpb)
    s = stdev(bpb) if n > 1 else None
    margin = nats_to_bpb(RECORD_MARGIN_NATS, tokens_per_byte)
    ref_seeds = list(reference_seeds or [])
    return {
        "n": n,
        "mean_bpb": m,
        "std_bpb": s,
        "reference_bpb": reference_bpb,
        "reference_n": len(ref_seeds),
        "tokens_per_byte": tokens_per_byte,
        "margin_bpb": margin,
        "threshold_bpb": reference_bpb - margin,
        "strict_threshold_bpb": reference_bpb - STRICT_MARGIN_BPB,
        "p_margin_nats": one_sample_less(bpb, reference_bpb - margin),
        "p_margin_bpb": one_sample_less(bpb, reference_bpb - STRICT_MARGIN_BPB),
        "p_welch": welch_less(bpb, [y - margin for y in ref_seeds]) if ref_seeds else None,
        "p_welch_plain": welch_less(bpb, ref_seeds) if ref_seeds else None,
        "seeds_needed": seeds_needed(reference_bpb - margin - m, s) if s is not None else None,
        "alpha": ALPHA,
    }
