"""The log-linear histogram: every quantile within its stated bound of the samples' exact quantile,
buckets contiguous and ordered, merges that add counts. Per-edge histograms (caller service ->
callee service, as the caller waited): recorded by every caller, written beside the per-service ones,
and agreeing with what the callees answered."""

from __future__ import annotations

import asyncio
import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Status
from nanoservices.outputs import histogram as h
from nanoservices.outputs.series import write_series
from nanoservices.plan import expand
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.stats import HostStats, add_stats
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.distributions import ErrorRate, Fixed

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"

latencies = st.floats(0.0, 100.0, allow_nan=False)  # seconds
quantiles = st.floats(0.0, 1.0)


def exact_quantile(samples: list[float], q: float) -> float:
    """Nearest rank, computed here without the module's `rank`."""
    ordered = sorted(samples)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


@given(st.lists(latencies, min_size=1, max_size=300), quantiles)
def test_a_quantile_is_within_the_relative_bound_of_the_exact_one(samples: list[float], q: float) -> None:
    exact = exact_quantile(samples, q)
    estimate = h.quantile(h.of(samples), q)
    if exact >= h.UNIT:
        assert exact <= estimate <= exact * (1 + h.RELATIVE_ERROR)
    else:
        assert estimate == h.UNIT


@given(latencies)
def test_a_value_lies_in_its_bucket(seconds: float) -> None:
    bucket = h.bucket_of(seconds)
    assert h.lower_bound(bucket) <= seconds < h.upper_bound(bucket)


@given(st.integers(1, 2_000))
def test_buckets_are_contiguous_and_at_most_the_relative_error_wide(bucket: int) -> None:
    assert h.upper_bound(bucket - 1) == h.lower_bound(bucket)
    low, high = h.lower_bound(bucket), h.upper_bound(bucket)
    assert low < high <= low * (1 + h.RELATIVE_ERROR)
    assert h.bucket_of(low) == bucket


def test_each_power_of_two_of_the_unit_starts_an_octave() -> None:
    assert h.bucket_of(0.0) == 0
    assert h.bucket_of(0.9e-6) == 0
    assert [h.bucket_of(2**k * h.UNIT) for k in range(4)] == [1, 17, 33, 49]
    assert h.bucket_of(h.UNIT * 1.0625) == 2  # the second sub-bucket of the first octave
    assert h.upper_bound(0) == h.lower_bound(1) == 2**-20


@given(st.lists(latencies, max_size=50), st.lists(latencies, max_size=50))
def test_merging_two_histograms_is_the_histogram_of_all_samples(a: list[float], b: list[float]) -> None:
    assert h.merge(h.of(a), h.of(b)) == h.of(a + b)


def test_an_empty_histogram_has_no_quantile() -> None:
    assert h.quantile({}, 0.5) == 0.0


def test_text_keys_from_json_come_back_as_buckets() -> None:
    assert h.from_counts({"17": 2, "0": 1}) == {17: 2, 0: 1}


def test_an_edge_counts_every_request_its_callers_ended_and_its_failures() -> None:
    stats = HostStats()
    for seconds, status in [(0.001, Status.OK), (0.004, Status.OK), (1.0, Status.TIMEOUT)]:
        stats.edge("homepage", "subscriber", status, seconds)
    stats.edge("login", "subscriber", Status.OK, 0.002)
    edges = stats.counts(0)["edge_latency"]
    assert edges == {
        "homepage|subscriber": {
            "requests": 3,
            "errors": 1,
            "h": {str(h.bucket_of(x)): 1 for x in (0.001, 0.004, 1.0)},
        },
        "login|subscriber": {"requests": 1, "errors": 0, "h": {str(h.bucket_of(0.002)): 1}},
    }
    summed = add_stats(add_stats({}, stats.counts(0)), stats.counts(1))  # two hosts' counts add up
    assert summed["edge_latency"]["homepage|subscriber"]["requests"] == 6


def test_edge_histograms_are_written_beside_the_per_service_ones(tmp_path: Path) -> None:
    stats = HostStats()
    waits = [0.001, 0.002, 0.002, 0.5]
    for seconds in waits:
        stats.edge("www", "www/elb", Status.OK if seconds < 0.5 else Status.TIMEOUT, seconds)
    written = write_series(tmp_path, stats.counts(0))
    edges = json.loads((tmp_path / "histograms.json").read_text())["edges"]
    assert list(edges) == ["www->www/elb"]
    edge = edges["www->www/elb"]
    assert (edge["caller"], edge["callee"], edge["count"], edge["errors"]) == ("www", "www/elb", 4, 1)
    assert edge["p50_ms"] == pytest.approx(h.quantile(h.of(waits), 0.5) * 1000, rel=1e-5)
    assert edge["max_ms"] == pytest.approx(h.upper_bound(h.bucket_of(0.5)) * 1000, rel=1e-5)
    path = tmp_path / "histograms" / "edges" / "www--www_elb.csv"
    assert path in written
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["upper_bound_ms", "count"]
    assert [[float(b), int(n)] for b, n in rows[1:]] == edge["buckets"]
    assert sum(int(n) for _, n in rows[1:]) == len(waits)


@pytest.mark.parametrize("per_host", [1, 10])
def test_edges_agree_with_what_callees_answered_and_what_sources_issued(per_host: int) -> None:
    """netflixoss with homepage slow (2 ms) and failing 30 %: per callee, the requests its callers
    waited for are the replies it made, failures included; the source's edge is every request it
    issued; the slow service's callers wait at least its 2 ms."""
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"))
    config = RunConfig(arch=plan.arch, instances_per_host=per_host, request_timeout=60)

    async def scenario() -> dict[str, Any]:
        run = LocalRun(plan, config)
        await run.start()
        for spec in plan.instances:
            if spec.service == "homepage":
                run.instance(spec.name).set_profile(VersionBehaviour(Fixed(0.002), ErrorRate(0.3)))
        source = next(s.name for s in plan.instances if s.package == "denominator")
        for _ in range(40):
            run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        return await run.stop()

    stats = asyncio.run(scenario())
    edges = stats["edge_latency"]
    into: Counter[tuple[str, bool]] = Counter()
    for key, row in edges.items():
        callee = key.split("|")[1]
        into[callee, True] += row["requests"] - row["errors"]
        into[callee, False] += row["errors"]
        assert sum(row["h"].values()) == row["requests"]
    answered: Counter[tuple[str, bool]] = Counter()
    for key, row in stats["series"].items():
        service = key.split("|")[1]
        answered[service, True] += row["requests"] - row["errors"]
        answered[service, False] += row["errors"]
    assert +into == +answered
    assert into["homepage", False] > 0
    source = edges["www|www-elb"]
    assert source["requests"] == stats["requests_issued"] == 40
    assert source["errors"] == sum(stats["requests_failed"].values())
    slow = h.from_counts(edges["wwwproxy|homepage"]["h"])
    assert h.quantile(slow, 0.0) >= 0.002
