"""The canary judge: the canary group against the baseline (the old group) over the same window,
in the spirit of Kayenta. The rule, stated:

- too few: fewer than MIN_REQUESTS requests on either side (an empty baseline included) is
  `inconclusive`; the judge keeps collecting until its window ends, and a final `inconclusive`
  does what the judge's `inconclusive` policy says (roll back, by default);
- looks: the judge looks at each `interval` and at `after`. The whole run may wrongly fail an
  identical canary with probability ALPHA (1 %) at most: look k may spend
  alpha(t_k) - alpha(t_k-1) of it, alpha(t) = 2 - 2 Phi(z[1 - ALPHA/2] / sqrt(t)) at
  t = seconds / after (Lan-DeMets' O'Brien-Fleming-like spending: early looks need a
  striking difference), and each of the two metrics gets half of a look's share (a union bound);
- errors: the canary fails this metric when its error rate exceeds the baseline's by more than
  `max_error_increase` AND Fisher's exact one-sided test gives p below the look's level (the
  pooled two-proportion z is reported beside it);
- tail latency: the canary fails this metric when its p99 exceeds `max_p99_ratio` times the
  baseline's and the baseline's plus `min_p99_increase`, AND more canary requests than chance
  are among both sides' slowest (in the bucket of the pooled m-th slowest request or above,
  m = TOP_SHARE of all, at least TOP_MIN): given the pooled histogram, their count among the
  canary's is hypergeometric when the versions are alike (Mood's median test moved to the tail),
  so the p is exact;
- the score is the percentage of metrics passed; pass at `pass_score` or more, marginal at
  `marginal_score` or more, else fail. A fail at any look rolls back at once; only a pass at the
  last look promotes (or an inconclusive one under the `promote` policy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

from nanoservices.outputs.histogram import quantile
from nanoservices.scenario.actions import Judge

MIN_REQUESTS = 20  # per side and judgement; fewer is inconclusive
ALPHA = 0.01  # the whole run's chance of failing a canary identical to its baseline, at most
TAIL = 0.99  # the latency metric's quantile, beside its test:
TOP_SHARE = 0.005  # the tail test counts the canary's requests among both sides' slowest 0.5 %,
TOP_MIN = 6  # at least 6 of them (for a slowest 5 % up to 10x slower, measured best of p97-p99.9)
METRICS = 2  # errors and tail latency share each look's alpha
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Window:
    """What one version of a service served over the judge's window."""

    requests: int = 0
    errors: int = 0
    latency: Mapping[int, int] = field(default_factory=dict)  # outputs.histogram buckets

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Verdict:
    result: str  # pass | marginal | fail | inconclusive
    score: float
    reasons: tuple[str, ...]
    canary: Window
    baseline: Window
    alpha: float = 0.0  # this look's level per metric: a p-value below it is a detection
    error_p: float = 1.0  # one-sided p of the error-rate test
    tail_p: float = 1.0  # one-sided p of the tail test

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "score": round(self.score, 1),
            "reasons": list(self.reasons),
            "alpha": float(f"{self.alpha:.3g}"),
            "error_p": float(f"{self.error_p:.3g}"),
            "error_z": round(error_z(self.baseline, self.canary), 3),
            "tail_p": float(f"{self.tail_p:.3g}"),
            "canary_requests": self.canary.requests,
            "canary_error_rate": round(self.canary.error_rate, 4),
            "baseline_requests": self.baseline.requests,
            "baseline_error_rate": round(self.baseline.error_rate, 4),
            "canary_p99_ms": round(quantile(self.canary.latency, TAIL) * 1000, 3),
            "baseline_p99_ms": round(quantile(self.baseline.latency, TAIL) * 1000, 3),
        }


# --- the looks ------------------------------------------------------------------------------
def looks(spec: Judge) -> list[float]:
    """Seconds after the canary's traffic starts at which the judge looks; the last is `after`."""
    times = []
    if spec.interval:
        times = [spec.interval * k for k in range(1, int(spec.after / spec.interval) + 1)]
    if not times or times[-1] < spec.after:
        times.append(spec.after)
    return times


def spent(t: float, alpha: float = ALPHA) -> float:
    """O'Brien-Fleming-like spending: how much of `alpha` may be spent by information fraction t."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return 2 * normal_sf(_NORMAL.inv_cdf(1 - alpha / 2) / math.sqrt(t))


def look_alphas(spec: Judge, alpha: float = ALPHA) -> list[float]:
    """Each look's share of `alpha`, per metric; over all looks and metrics they sum to `alpha`."""
    times = looks(spec)
    fractions = [at / spec.after for at in times]
    spending = [spent(t, alpha) for t in fractions]
    return [(now - before) / METRICS for before, now in zip([0.0, *spending], spending, strict=False)]


# --- the statistics -------------------------------------------------------------------------
def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def error_z(baseline: Window, canary: Window) -> float:
    """Two-proportion z statistic (pooled), positive when the canary errs more."""
    n1, n2 = canary.requests, baseline.requests
    if not n1 or not n2:
        return 0.0
    pooled = (canary.errors + baseline.errors) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (canary.error_rate - baseline.error_rate) / spread if spread else 0.0


def error_p(baseline: Window, canary: Window) -> float:
    """One-sided exact p (Fisher's) that the canary errs more than the baseline: given both sides'
    errors together, the canary's share of them is hypergeometric when the versions are alike.
    The z-test's normal approximation fails more than it should with few errors (measured: 2.5 %
    of identical canaries of 57 requests at 1 % errors over five looks, against 1 %)."""
    return hypergeometric_sf(
        canary.errors, canary.requests + baseline.requests, canary.errors + baseline.errors, canary.requests
    )


def above_pooled(baseline: Mapping[int, int], canary: Mapping[int, int]) -> tuple[int, int]:
    """(canary, baseline) requests among both sides' slowest: in the bucket of the pooled m-th
    slowest request or above it, m = TOP_SHARE of all and at least TOP_MIN (ties in that bucket
    count in, so a canary piled into one slow bucket is not lost)."""
    pooled = dict(baseline)
    for bucket, n in canary.items():
        pooled[bucket] = pooled.get(bucket, 0) + n
    total = sum(pooled.values())
    wanted = max(1, total - max(TOP_MIN, math.ceil(TOP_SHARE * total)) + 1)  # the m-th slowest's rank
    seen = 0
    threshold = 0
    for bucket in sorted(pooled):
        seen += pooled[bucket]
        if seen >= wanted:
            threshold = bucket
            break
    return (
        sum(n for b, n in canary.items() if b >= threshold),
        sum(n for b, n in baseline.items() if b >= threshold),
    )


def hypergeometric_sf(k: int, population: int, marked: int, drawn: int) -> float:
    """P(X >= k) for X the marked items among `drawn` taken without replacement."""
    top = min(marked, drawn)
    if k <= max(0, drawn - (population - marked)):
        return 1.0
    if k > top:
        return 0.0
    log_all = _log_comb(population, drawn)
    return min(1.0, sum(
        math.exp(_log_comb(marked, x) + _log_comb(population - marked, drawn - x) - log_all)
        for x in range(k, top + 1)
    ))  # fmt: skip


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def tail_p(baseline: Mapping[int, int], canary: Mapping[int, int]) -> float:
    """One-sided exact p that more canary requests than chance are among the pooled top.

    Given both histograms together, the threshold does not depend on which request came from
    which side, so under no difference the canary's count above it is hypergeometric."""
    n_canary, n_baseline = sum(canary.values()), sum(baseline.values())
    if not n_canary or not n_baseline:
        return 1.0
    canary_above, baseline_above = above_pooled(baseline, canary)
    return hypergeometric_sf(canary_above, n_canary + n_baseline, canary_above + baseline_above, n_canary)


# --- the rule -------------------------------------------------------------------------------
def judge(baseline: Window, canary: Window, spec: Judge, level: float = ALPHA / METRICS) -> Verdict:
    """One look at `level` per metric (its share from look_alphas; by default a lone look's)."""
    short = [
        f"only {window.requests} {side} requests (need {MIN_REQUESTS})"
        for side, window in (("canary", canary), ("baseline", baseline))
        if window.requests < MIN_REQUESTS
    ]
    if short:
        return Verdict("inconclusive", 0.0, tuple(short), canary, baseline, level)
    reasons = []
    passed = 0
    p_errors = error_p(baseline, canary)
    increase = canary.error_rate - baseline.error_rate
    if increase > spec.max_error_increase and p_errors < level:
        reasons.append(
            f"error rate {canary.error_rate:.1%} vs baseline {baseline.error_rate:.1%} (p={p_errors:.2g})"
        )
    else:
        passed += 1
    p99_canary, p99_baseline = quantile(canary.latency, TAIL), quantile(baseline.latency, TAIL)
    p_tail = tail_p(baseline.latency, canary.latency)
    slower = p99_canary > max(spec.max_p99_ratio * p99_baseline, p99_baseline + spec.min_p99_increase)
    if p99_baseline and slower and p_tail < level:
        reasons.append(
            f"p99 {p99_canary * 1000:.1f} ms vs baseline {p99_baseline * 1000:.1f} ms (p={p_tail:.2g})"
        )
    else:
        passed += 1
    score = 100.0 * passed / METRICS
    if score >= spec.pass_score:
        result = "pass"
    elif score >= spec.marginal_score:
        result = "marginal"
    else:
        result = "fail"
    return Verdict(result, score, tuple(reasons), canary, baseline, level, p_errors, p_tail)
