"""The canary judge's statistics against scipy's, and its rule on seeded draws (pure Python, no Ray).

scipy computes the reference values only here; the judge itself needs nothing beyond the standard
library. The draws: a lognormal service time (median 10 ms, p99 30 ms) for both sides, or for the
canary the same with its slowest 5 % stretched up to 10x (its median unchanged).
"""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from scipy import stats

from nanoservices.outputs.histogram import RELATIVE_ERROR, bucket_of, quantile
from nanoservices.scenario.actions import Judge
from nanoservices.scenario.judge import (
    ALPHA,
    METRICS,
    MIN_REQUESTS,
    Window,
    above_pooled,
    error_p,
    error_z,
    hypergeometric_sf,
    judge,
    look_alphas,
    looks,
    normal_sf,
    spent,
    tail_p,
)

MU, SIGMA = math.log(0.010), math.log(3) / 2.326  # median 10 ms, p99 30 ms
SLOW_FROM = math.exp(MU + SIGMA * stats.norm.isf(0.05))  # the 95th percentile


def service_time(rng: random.Random, tail: bool) -> float:
    seconds = rng.lognormvariate(MU, SIGMA)
    if tail and seconds > SLOW_FROM:  # quantile u in the slowest 5 %: x (1 + 9 (u - 0.95) / 0.05)
        u = 1 - 0.5 * math.erfc((math.log(seconds) - MU) / SIGMA / math.sqrt(2))
        seconds *= 1 + 9 * (u - 0.95) / 0.05
    return seconds


class Side:
    """One version's requests so far, grown draw by draw."""

    def __init__(self, error_rate: float = 0.0, tail: bool = False) -> None:
        self.requests = self.errors = 0
        self.latency: Counter[int] = Counter()
        self.error_rate, self.tail = error_rate, tail

    def serve(self, rng: random.Random, n: int) -> None:
        for _ in range(n):
            self.requests += 1
            self.errors += rng.random() < self.error_rate
            self.latency[bucket_of(service_time(rng, self.tail))] += 1

    def window(self) -> Window:
        return Window(self.requests, self.errors, dict(self.latency))


def judged(seed: int, spec: Judge, per_second: tuple[float, float], canary: Side, baseline: Side) -> str:
    """The judge's last word over its whole sequence of looks (a fail ends it at once)."""
    rng = random.Random(seed)
    seen = 0.0
    result = ""
    for at, level in zip(looks(spec), look_alphas(spec), strict=True):
        canary.serve(rng, round(per_second[0] * at) - round(per_second[0] * seen))
        baseline.serve(rng, round(per_second[1] * at) - round(per_second[1] * seen))
        seen = at
        result = judge(baseline.window(), canary.window(), spec, level).result
        if result == "fail":
            break
    return result


# --- the statistics against scipy -------------------------------------------------------------
TABLES = [(3, 60, 5, 540), (12, 57, 6, 513), (0, 40, 0, 400), (1, 20, 0, 200), (30, 300, 27, 2700)]


@pytest.mark.parametrize(("ce", "cn", "be", "bn"), TABLES)
def test_error_z_is_the_pooled_two_proportion_z(ce: int, cn: int, be: int, bn: int) -> None:
    z = error_z(Window(bn, be), Window(cn, ce))
    table = [[ce, cn - ce], [be, bn - be]]
    if ce + be == 0:
        assert z == 0.0
        return
    chi2 = stats.chi2_contingency(table, correction=False).statistic  # = z squared for 2x2
    assert z**2 == pytest.approx(chi2, rel=1e-9)
    assert math.copysign(1, z) == math.copysign(1, ce / cn - be / bn) or z == 0
    assert normal_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-9)


@pytest.mark.parametrize(("ce", "cn", "be", "bn"), TABLES)
def test_error_p_is_fishers_one_sided_exact_test(ce: int, cn: int, be: int, bn: int) -> None:
    expected = stats.fisher_exact([[ce, cn - ce], [be, bn - be]], alternative="greater").pvalue
    assert error_p(Window(bn, be), Window(cn, ce)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("k", "population", "marked", "drawn"), [
    (0, 50, 5, 10), (1, 50, 5, 10), (3, 570, 6, 57), (6, 570, 6, 57), (7, 570, 6, 57),
    (40, 3000, 60, 300), (5, 20, 15, 10), (2, 10, 10, 2),
])  # fmt: skip
def test_hypergeometric_tail_matches_scipy(k: int, population: int, marked: int, drawn: int) -> None:
    expected = stats.hypergeom.sf(k - 1, population, marked, drawn)
    assert hypergeometric_sf(k, population, marked, drawn) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_the_tail_test_counts_the_pooled_slowest_and_is_hypergeometric() -> None:
    rng = random.Random(7)
    canary, baseline = Side(tail=True), Side()
    canary.serve(rng, 150)
    baseline.serve(rng, 1350)
    c, b = canary.window().latency, baseline.window().latency
    # the reference: the bucket of the m-th slowest of both sides, m = max(6, 0.5 %), and those above
    pooled = sorted([k for k, n in c.items() for _ in range(n)] + [k for k, n in b.items() for _ in range(n)])
    threshold = pooled[len(pooled) - max(6, math.ceil(0.005 * len(pooled)))]  # the m-th slowest's bucket
    c_above = sum(n for k, n in c.items() if k >= threshold)
    b_above = sum(n for k, n in b.items() if k >= threshold)
    assert above_pooled(b, c) == (c_above, b_above) and c_above > 0
    expected = stats.hypergeom.sf(c_above - 1, 1500, c_above + b_above, 150)
    assert tail_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_p99_of_a_histogram_is_within_a_bucket_of_the_samples() -> None:
    rng = random.Random(3)
    samples = [service_time(rng, True) for _ in range(5000)]
    side = Side()
    for s in samples:
        side.latency[bucket_of(s)] += 1
    exact = float(sorted(samples)[math.ceil(0.99 * len(samples)) - 1])  # nearest rank
    assert exact <= quantile(side.latency, 0.99) <= exact * (1 + RELATIVE_ERROR)


def test_spending_is_obrien_fleming_like_and_the_looks_share_alpha() -> None:
    for t in (0.2, 0.5, 0.8):
        reference = 2 * stats.norm.sf(stats.norm.isf(ALPHA / 2) / math.sqrt(t))
        assert spent(t) == pytest.approx(reference, rel=1e-9)
    assert spent(1.0) == ALPHA and spent(0.0) == 0.0
    spec = Judge(after=10.0, interval=2.0)
    assert looks(spec) == [2.0, 4.0, 6.0, 8.0, 10.0]
    shares = look_alphas(spec)
    assert sum(shares) * METRICS == pytest.approx(ALPHA, rel=1e-12)
    assert shares == sorted(shares) and shares[0] < 1e-6  # early looks need a striking difference
    assert looks(Judge(after=7.0, interval=3.0)) == [3.0, 6.0, 7.0]
    assert look_alphas(Judge(after=7.0)) == [ALPHA / METRICS]


# --- the rule -------------------------------------------------------------------------------
def test_an_empty_baseline_or_too_few_canary_requests_is_inconclusive() -> None:
    rng = random.Random(1)
    canary, baseline = Side(error_rate=0.5), Side()
    canary.serve(rng, 100)
    verdict = judge(Window(), canary.window(), Judge())
    assert verdict.result == "inconclusive"
    assert verdict.reasons == (f"only 0 baseline requests (need {MIN_REQUESTS})",)
    baseline.serve(rng, 500)
    few = Side()
    few.serve(rng, MIN_REQUESTS - 1)
    assert judge(baseline.window(), few.window(), Judge()).result == "inconclusive"
    few.serve(rng, 1)
    assert judge(baseline.window(), few.window(), Judge()).result == "pass"


def test_a_canary_with_its_slowest_5_percent_up_to_10x_slower_fails() -> None:
    spec = Judge(after=30.0)  # 300 canary requests against 2,700: a 10 % share of 100/s for 30 s
    results = Counter(judged(seed, spec, (10, 90), Side(tail=True), Side()) for seed in range(200))
    assert results["fail"] >= 196, results
    rng = random.Random(0)
    canary, baseline = Side(tail=True), Side()
    canary.serve(rng, 300)
    baseline.serve(rng, 2700)
    verdict = judge(baseline.window(), canary.window(), spec)
    assert abs(quantile(canary.latency, 0.5) / quantile(baseline.latency, 0.5) - 1) <= RELATIVE_ERROR
    assert verdict.result == "fail" and verdict.reasons[0].startswith("p99 ")
    assert verdict.tail_p < verdict.alpha and verdict.error_p == 1.0


def test_a_slower_canary_and_an_erring_one_fail_at_an_interim_look() -> None:
    spec = Judge(after=10.0, interval=2.0)
    assert judged(1, spec, (10, 90), Side(error_rate=0.2), Side()) == "fail"  # 20 % errors against none
    rng = random.Random(2)
    baseline = Side()
    baseline.serve(rng, 360)
    slow = Counter(bucket_of(4 * service_time(rng, False)) for _ in range(40))  # every request 4x slower
    verdict = judge(baseline.window(), Window(40, 0, slow), spec, look_alphas(spec)[1])  # the second look
    assert verdict.result == "fail" and verdict.tail_p < verdict.alpha


@pytest.mark.parametrize(
    "spec",
    [
        Judge(after=10.0, interval=2.0),  # the default thresholds, five looks
        # the tests alone, every threshold off
        Judge(after=10.0, interval=2.0, max_error_increase=0.0, max_p99_ratio=1.0, min_p99_increase=0.0),
    ],
    ids=["default", "no-thresholds"],
)
def test_an_identical_canary_passes_in_99_percent_of_1000_seeded_runs_of_five_looks(spec: Judge) -> None:
    results = Counter(
        judged(seed, spec, (8, 72), Side(error_rate=0.01), Side(error_rate=0.01)) for seed in range(1000)
    )
    assert results["fail"] + results["marginal"] <= 10, results
    assert results["pass"] >= 990


def test_a_tail_a_few_milliseconds_slower_passes_unless_min_p99_increase_is_lowered() -> None:
    rng = random.Random(4)
    fast = Counter(bucket_of(service_time(rng, False) / 4) for _ in range(1000))  # p99 ~7.5 ms
    fast_baseline = Window(1000, 0, dict(fast))
    slower = Counter(bucket_of(service_time(rng, False) / 4 * 2) for _ in range(200))  # p99 ~15 ms
    few_ms = judge(fast_baseline, Window(200, 0, dict(slower)), Judge())
    assert few_ms.tail_p < few_ms.alpha and few_ms.result == "pass"  # +7.5 ms: under the 10 ms floor
    assert judge(fast_baseline, Window(200, 0, dict(slower)), Judge(min_p99_increase=0.0)).result == "fail"
