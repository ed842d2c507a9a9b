"""The run summary's arithmetic: latency quantiles, durations, and the accounting check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.histogram import RELATIVE_ERROR, bucket_of, upper_bound
from nanoservices.plan import expand
from nanoservices.result import RunResult
from nanoservices.runtime.stats import HostStats, add_stats, latency_quantile
from nanoservices.summary import RunSummary, _duration, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


def summary(**overrides: Any) -> RunSummary:
    fields: dict[str, Any] = dict(
        arch="a", out_dir="o", instances_planned=1, instances_started=1, instances_stopped=1,
        instances_killed=0, hosts=1, registries=3, requests_issued=10, requests_completed=6,
        requests_failed={"timeout": 3}, requests_in_flight=1, messages_delivered=0, messages_remote=0,
        batches=0, ticks_skipped=0, latency_buckets={}, requested_rate=100.0, traffic_seconds=1.0,
        one_way_dropped=0, late_responses=0, nodes=1, edges=0, forgets=0, done_records=1,
        wall_seconds=1.0, timings={}, events=[],
    )  # fmt: skip
    fields.update(overrides)
    return RunSummary(**fields)


def test_the_requests_line_says_accounted_for_only_without_problems() -> None:
    assert summary().accounted
    assert summary().lines()[2] == (
        "  requests: 10 issued = 6 completed + 3 failed (timeout 3) + 1 in flight at shutdown: accounted for"
    )
    problem = "host 0 -> host 1: 2 messages sent but neither received nor lost"
    broken = summary(accounting_problems=[problem])
    assert not broken.accounted
    assert broken.lines()[2].endswith(" + 1 in flight at shutdown: NOT accounted for")
    assert broken.lines()[3] == f"    {problem}"


def test_summarise_finds_an_entry_equation_that_does_not_add_up(tmp_path: Path) -> None:
    stats = {
        "requests_issued": 11,
        "requests_completed": 6,
        "requests_failed": {"timeout": 3},
        "requests_in_flight": 1,
    }
    plan = expand(load_architecture(ARCHITECTURES / "lamp_arch.json"), 100, 1)
    graph = {"nodes": 0, "edges": 0, "forgets": 0, "done": 0, "files": []}
    result = RunResult(plan.arch, 1, len(plan.instances), stats=stats, graph=graph)
    made = summarise(plan, RunConfig(arch="lamp", out_dir=tmp_path), result, 1.0)
    assert made.accounting_problems == [
        "entry requests: 1 fewer ended or in flight than were issued (11 issued, 9 ended, 1 in flight)"
    ]
    assert made.lines()[2].endswith(": NOT accounted for")


def test_latency_quantiles_come_from_the_log_linear_histogram_and_survive_text_keys() -> None:
    stats = HostStats()
    for seconds in [0.001] * 90 + [0.1] * 9 + [3.0]:
        stats.latency(seconds)
    buckets = stats.counts(0)["latency_buckets"]
    assert isinstance(buckets, dict) and all(isinstance(k, str) for k in buckets)  # JSON-safe
    for q, exact in [(0.5, 0.001), (0.9, 0.001), (0.99, 0.1), (1.0, 3.0)]:
        assert latency_quantile(buckets, q) == upper_bound(bucket_of(exact))
        assert exact <= latency_quantile(buckets, q) <= exact * (1 + RELATIVE_ERROR)
    assert latency_quantile({}, 0.5) == 0.0


def test_host_counters_add_up_across_hosts_and_nested_counts() -> None:
    total: dict[str, Any] = {}
    add_stats(
        total, {"requests_issued": 2, "spans": {"created": 5, "exporters": {"x": {"dropped": {"q": 1}}}}}
    )
    add_stats(
        total, {"requests_issued": 3, "spans": {"created": 1, "exporters": {"x": {"dropped": {"q": 2}}}}}
    )
    assert total == {"requests_issued": 5, "spans": {"created": 6, "exporters": {"x": {"dropped": {"q": 3}}}}}


def test_durations_read_naturally() -> None:
    assert [_duration(s) for s in (2.097152, 0.016384, 0.000512)] == ["2.1 s", "16 ms", "512 µs"]


def test_dropped_spans_give_one_warning_line() -> None:
    spans = {"created": 10, "exporters": {"otlp": {"exported": 7, "dropped": {"queue_full": 3}}}}
    lines = summary(spans=spans).lines()
    assert summary(spans=spans).spans_dropped == 3
    assert sum("warning" in line for line in lines) == 1


def test_skipped_ticks_name_the_limit_that_caused_them() -> None:
    throttled = summary(ticks_throttled=20_466, max_in_flight=64, requests_issued=979, requests_completed=975,
                        requests_failed={}, requests_in_flight=4, requested_rate=2000.0)  # fmt: skip
    line = next(line for line in throttled.lines() if line.startswith("  traffic: "))
    assert line == (
        "  traffic: 979 requests/s achieved of 2,000 asked (20,466 ticks skipped with --max-in-flight 64 "
        "requests outstanding per denominator: raise --max-in-flight)"
    )
    late = summary(ticks_skipped=7)
    line = next(line for line in late.lines() if line.startswith("  traffic: "))
    assert line.endswith("(7 ticks skipped: the hosts could not keep up)")


def test_the_achieved_rate_is_per_second_the_sources_ticked_not_per_second_of_the_run() -> None:
    """Hosts start one after the other: the run's clock starts before the sources tick. Two
    sources ticked 10 s and 9.5 s and issued 1,950 requests: 100/s each while they ran."""
    ran = summary(requests_issued=1950, requests_completed=1950, requests_failed={}, requests_in_flight=0,
                  requested_rate=200.0, traffic_seconds=10.3, source_seconds=19.5,
                  traffic_sources=2)  # fmt: skip
    assert [line for line in ran.lines() if line.startswith("  traffic: ")] == [
        "  traffic: 200 requests/s achieved of 200 asked, over 9.8 s of traffic"
    ]
    old = summary(requests_issued=1950, requests_completed=1950, requests_failed={}, requests_in_flight=0,
                  requested_rate=200.0, traffic_seconds=10.3)  # fmt: skip
    assert [line for line in old.lines() if line.startswith("  traffic: ")] == [
        "  traffic: 189 requests/s achieved of 200 asked"
    ]


def test_the_eureka_line_sums_the_registries_and_says_when_the_last_round_evicted() -> None:
    from nanoservices.outputs.eureka import eureka_totals

    def counts(name: str, rounds: list[list[float]], held: int) -> dict[str, object]:
        evicted = sum(int(n) for _, n in rounds)
        return {"registry": name, "evicted": evicted, "held_back": held, "rounds": rounds}

    same = eureka_totals(
        [
            ("r/zoneA", counts("eA", [[110.0, 10], [114.2, 12]], 12)),
            ("r/zoneB", counts("eB", [[111.0, 10], [112.0, 12]], 12)),
        ],
        run_started=100.0,
    )
    assert [(e["at"], e["zone"], e["count"]) for e in same["evictions"]] == [
        (10.0, "r/zoneA", 10), (11.0, "r/zoneB", 10), (12.0, "r/zoneB", 12), (14.2, "r/zoneA", 12)
    ]  # fmt: skip
    assert [line for line in summary(eureka=same).lines() if line.startswith("  eureka: ")] == [
        "  eureka: 44 leases evicted (22 by each of 2 registries; last 14.2 s into the traffic), "
        "24 held back by self-preservation for a round or more"
    ]
    lost = eureka_totals([("r/zoneA", counts("eA", [[103.0, 1]], 0)), ("r/zoneB", None)], run_started=100.0)
    assert [line for line in summary(eureka=lost).lines() if line.startswith("  eureka: ")] == [
        "  eureka: 1 lease evicted (r/zoneA 1; last 3.0 s into the traffic), 0 held back by "
        "self-preservation for a round or more; not counted: r/zoneB (did not answer at shutdown)"
    ]
    quiet = eureka_totals([("r/zoneA", counts("eA", [], 0))], run_started=100.0)
    assert not [line for line in summary(eureka=quiet).lines() if line.startswith("  eureka")]


def test_the_entry_seconds_are_the_series_in_order_without_histograms() -> None:
    from nanoservices.summary import entry_seconds

    series = {"10": {"requests": 5, "errors": 2, "h": {"3": 3}}, "2": {"requests": 1, "errors": 0, "h": {}}}
    assert entry_seconds(series) == [[2, 1, 0], [10, 5, 2]]
