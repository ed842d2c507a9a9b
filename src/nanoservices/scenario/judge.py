"""The canary judge: the canary group against the baseline (the old group) over the same window,
in the spirit of Kayenta. The rule, stated:

- errors: the canary fails this metric when its error rate exceeds the baseline's by more than
  `max_error_increase` AND a one-sided two-proportion z-test says the difference is real (z > 2.33,
  p < 0.01);
- latency: the canary fails this metric when its p99 exceeds the baseline's by more than
  `max_p99_ratio` AND a Mann-Whitney comparison of the two latency histograms says canary
  requests are slower (the probability that a canary request is slower than a baseline one,
  ties counted half, is above 0.6);
- the score is the percentage of metrics passed; pass at `pass_score` or more, marginal at
  `marginal_score` or more, else fail. Fewer than MIN_REQUESTS canary requests is marginal: there
  is not enough to judge. Only a pass promotes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from nanoservices.outputs.histogram import quantile
from nanoservices.scenario.actions import Judge

MIN_REQUESTS = 20
Z_ONE_SIDED_99 = 2.33
SLOWER_PROBABILITY = 0.6


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
    result: str  # pass | marginal | fail
    score: float
    reasons: tuple[str, ...]
    canary: Window
    baseline: Window

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "score": round(self.score, 1),
            "reasons": list(self.reasons),
            "canary_requests": self.canary.requests,
            "canary_error_rate": round(self.canary.error_rate, 4),
            "baseline_requests": self.baseline.requests,
            "baseline_error_rate": round(self.baseline.error_rate, 4),
            "canary_p99_ms": round(quantile(self.canary.latency, 0.99) * 1000, 3),
            "baseline_p99_ms": round(quantile(self.baseline.latency, 0.99) * 1000, 3),
        }


def error_z(baseline: Window, canary: Window) -> float:
    """Two-proportion z statistic, positive when the canary errs more."""
    n1, n2 = canary.requests, baseline.requests
    if not n1 or not n2:
        return 0.0
    pooled = (canary.errors + baseline.errors) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (canary.error_rate - baseline.error_rate) / spread if spread else 0.0


def slower_probability(baseline: Mapping[int, int], canary: Mapping[int, int]) -> float:
    """P(canary latency > baseline latency) + P(equal bucket) / 2: Mann-Whitney's U / (n1 n2)."""
    n1, n2 = sum(canary.values()), sum(baseline.values())
    if not n1 or not n2:
        return 0.5
    below = 0  # baseline requests in lower buckets, as we walk up
    u = 0.0
    for bucket in sorted(set(canary) | set(baseline)):
        c, b = canary.get(bucket, 0), baseline.get(bucket, 0)
        u += c * below + 0.5 * c * b
        below += b
    return u / (n1 * n2)


def judge(baseline: Window, canary: Window, spec: Judge) -> Verdict:
    if canary.requests < MIN_REQUESTS:
        reason = f"only {canary.requests} canary requests (need {MIN_REQUESTS})"
        return Verdict("marginal", spec.marginal_score, (reason,), canary, baseline)
    reasons = []
    passed = 0
    increase = canary.error_rate - baseline.error_rate
    if increase > spec.max_error_increase and error_z(baseline, canary) > Z_ONE_SIDED_99:
        reasons.append(f"error rate {canary.error_rate:.1%} vs baseline {baseline.error_rate:.1%}")
    else:
        passed += 1
    p99_canary, p99_baseline = quantile(canary.latency, 0.99), quantile(baseline.latency, 0.99)
    slower = slower_probability(baseline.latency, canary.latency)
    if p99_baseline and p99_canary > spec.max_p99_ratio * p99_baseline and slower > SLOWER_PROBABILITY:
        reasons.append(f"p99 {p99_canary * 1000:.1f} ms vs baseline {p99_baseline * 1000:.1f} ms")
    else:
        passed += 1
    score = 100.0 * passed / 2
    if score >= spec.pass_score:
        result = "pass"
    elif score >= spec.marginal_score:
        result = "marginal"
    else:
        result = "fail"
    return Verdict(result, score, tuple(reasons), canary, baseline)
