"""Behaviour profiles in the runtime, in process: error rates fail requests with reason `error`,
latencies delay replies without blocking the host, and the per-second series and histograms agree
with what callers received. Expected figures are replayed from the instances' own seeded random
generators (a store draws nothing else), not copied from a run."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.config import RunConfig
from nanoservices.messages import Message, Status
from nanoservices.naming import SERVICE
from nanoservices.outputs import histogram
from nanoservices.outputs.series import TIMESERIES_HEADER, ms, write_series
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.problems import InputError
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.resilience import MIN_REQUESTS
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.distributions import ErrorRate, Fixed, LogNormal
from nanoservices.summary import summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


def tiny(db: dict[str, Any], app_count: int = 3, db_count: int = 3) -> DeploymentPlan:
    """www (denominator) -> app (karyon, zone-local) -> db (store), with `db` extension fields."""
    services = [
        {"name": "db", "package": "store", "count": db_count, "regions": 1, **db},
        {"name": "app", "package": "karyon", "count": app_count, "regions": 1, "dependencies": ["db"]},
        {"name": "www", "package": "denominator", "count": 0, "dependencies": ["app"]},
    ]
    return expand(parse_architecture(json.dumps({"services": services}), "tiny_arch.json", "tiny"))


class FakeClock:
    """Host time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def started(
    plan: DeploymentPlan, seed: int = 1, per_host: int = 1, clock: FakeClock | None = None
) -> LocalRun:
    run = LocalRun(
        plan, RunConfig(arch=plan.arch, seed=seed, instances_per_host=per_host, request_timeout=60)
    )
    if clock is not None:
        for host in run.hosts:
            host.clock = clock
    await run.start()
    return run


async def tick(run: LocalRun, times: int) -> None:
    sources = [s.name for s in run.plan.instances if s.package == "denominator"]
    for _ in range(times):
        for name in sources:
            run.instance(name).behaviour.tick()  # type: ignore[attr-defined]
        await run.settle()


def series(stats: dict[str, Any], service: str) -> dict[str, dict[str, Any]]:
    """Rows of one service by zone, summed over seconds."""
    out: dict[str, dict[str, Any]] = {}
    for key, row in stats["series"].items():
        _, name, _, zone = key.split("|")
        if name == service:
            into = out.setdefault(zone, {"requests": 0, "errors": 0, "h": {}})
            into["requests"] += row["requests"]
            into["errors"] += row["errors"]
            into["h"] = histogram.merge(into["h"], histogram.from_counts(row["h"]))
    return out


def db_rng(plan: DeploymentPlan, zone: str, seed: int) -> random.Random:
    (spec,) = [s for s in plan.instances if s.service == "db" and s.zone == zone]
    return random.Random(f"{seed}:{spec.name}")


def error_run(seed: int) -> tuple[DeploymentPlan, dict[str, Any]]:
    plan = tiny({"errors": 0.5})

    async def scenario() -> dict[str, Any]:
        run = await started(plan, seed)
        await tick(run, 200)
        return await run.stop()

    return plan, asyncio.run(scenario())


def expected_errors(plan: DeploymentPlan, stats: dict[str, Any], seed: int) -> int:
    """Each db instance draws once per reply it made: replay that many draws of its rng."""
    total = 0
    for zone, row in series(stats, "db").items():
        rng = db_rng(plan, zone, seed)
        total += sum(rng.random() < 0.5 for _ in range(row["requests"]))
    return total


def test_an_error_rate_fails_with_reason_error_reproducibly_until_the_callers_breaker_opens() -> None:
    plan, stats = error_run(seed=1)
    failed = stats["requests_failed"]
    errors = failed["error"]
    assert stats["requests_issued"] == 200
    assert set(failed) == {"error", "short_circuited"}
    assert errors == expected_errors(plan, stats, seed=1)
    assert sum(row["errors"] for row in series(stats, "db").values()) == errors
    assert sum(row["errors"] for row in series(stats, "app").values()) == errors  # relayed as they came
    # www's breaker for app opened the first time >= 50 % of >= 20 requests had failed (time stands
    # still here, so it never half-opens); every later request failed fast, never sent.
    served = stats["requests_completed"] + errors
    assert served + failed["short_circuited"] == 200
    assert served >= MIN_REQUESTS and errors * 2 >= served
    assert served == MIN_REQUESTS or (errors - 1) * 2 < served - 1
    assert stats["breaker_changes"] == {"open": 1}

    again = error_run(seed=1)[1]
    assert again["requests_failed"] == failed
    other_plan, other = error_run(seed=2)
    assert other["requests_failed"]["error"] == expected_errors(other_plan, other, seed=2)
    assert other["requests_failed"] != failed


def test_a_latency_profile_delays_the_reply_without_blocking_the_host() -> None:
    plan = tiny({"latency": "30ms"}, app_count=1, db_count=1)

    async def scenario() -> tuple[list[int], list[int], dict[str, Any]]:
        run = await started(plan, per_host=100)  # app and db share a host: a blocked one forwards nothing
        host = run.hosts[run.host_of(next(s.name for s in plan.instances if s.service == "db"))]
        source = run.instance(next(s.name for s in plan.instances if s.package == "denominator"))
        behaviour: Any = source.behaviour
        waiting, delayed = [], []
        for _ in range(2):
            behaviour.tick()
            while any(
                h.moving() for h in run.hosts
            ):  # every message moved on; the db's reply waits out its 30 ms
                await asyncio.sleep(0)
            waiting.append(len(source.pending))
            delayed.append(host.delays.pending)
        await run.settle()
        waiting.append(len(source.pending))
        return waiting, delayed, await run.stop()

    waiting, delayed, stats = asyncio.run(scenario())
    assert waiting == [1, 2, 0]  # the second request went all the way while the first was held
    assert delayed == [1, 2]
    assert stats["requests_completed"] == 2


@pytest.mark.parametrize("model", [LogNormal(0.04, 0.4), Fixed(0.02)])
def test_recorded_service_times_are_the_sampled_ones(model: LogNormal | Fixed) -> None:
    latency = {"median": "40ms", "p99": "400ms"} if isinstance(model, LogNormal) else "20ms"
    plan = tiny({"latency": latency})
    clock = FakeClock()  # host time stands still: a reply's service time is its sampled delay alone

    async def scenario() -> dict[str, Any]:
        run = await started(plan, clock=clock)
        await tick(run, 60)
        return await run.stop()

    stats = asyncio.run(scenario())
    db = series(stats, "db")
    assert sum(row["requests"] for row in db.values()) == 60
    for zone, row in db.items():
        rng = db_rng(plan, zone, seed=1)
        assert row["h"] == histogram.of(model.sample(rng) for _ in range(row["requests"]))
    assert all(row["h"] == {0: row["requests"]} for row in series(stats, "app").values())


def responses_by_service(run: LocalRun) -> Counter[tuple[str, bool]]:
    """What callers received, by the answering service and whether it was OK (caller side)."""
    seen: Counter[tuple[str, bool]] = Counter()
    for host in run.hosts:
        for instance in host.instances.values():
            original = instance.on_response

            def spy(msg: Message, original: Callable[[Message], None] = original) -> None:
                if msg.sender:  # not a failure the runtime made up (timeouts)
                    seen[msg.sender.split(".")[SERVICE], msg.status is Status.OK] += 1
                original(msg)

            instance.on_response = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("per_host", [1, 10])
def test_the_series_counts_what_callers_received_and_entry_latency_what_completed(per_host: int) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"))

    async def scenario() -> tuple[Counter[tuple[str, bool]], dict[str, Any]]:
        run = await started(plan, per_host=per_host)
        seen = responses_by_service(run)
        for spec in plan.instances:
            if spec.service == "homepage":
                run.instance(spec.name).set_profile(VersionBehaviour(Fixed(0.002), ErrorRate(0.3)))
        await tick(run, 40)
        return seen, await run.stop()

    seen, stats = asyncio.run(scenario())
    answered: Counter[tuple[str, bool]] = Counter()
    for key, row in stats["series"].items():
        service = key.split("|")[1]
        answered[service, True] += row["requests"] - row["errors"]
        answered[service, False] += row["errors"]
        assert sum(row["h"].values()) == row["requests"]
    assert +answered == seen
    assert seen["homepage", False] > 0
    assert sum(stats["latency_buckets"].values()) == stats["requests_completed"] > 0
    if per_host == 1:  # every reply crossed to another host
        assert sum(answered.values()) == sum(hop.get("answered", 0) for hop in stats["hops"].values())


def test_set_profile_none_answers_at_once_again() -> None:
    plan = tiny({"errors": 1.0}, app_count=1, db_count=1)

    async def scenario() -> list[dict[str, int]]:
        run = await started(plan)
        db = run.instance(next(s.name for s in plan.instances if s.service == "db"))
        await tick(run, 3)
        failed_before = dict(
            run.hosts[
                run.host_of(next(s.name for s in plan.instances if s.package == "denominator"))
            ].stats.requests_failed
        )
        db.set_profile(None)
        await tick(run, 4)
        stats = await run.stop()
        return [failed_before, {"completed": stats["requests_completed"], **stats["requests_failed"]}]

    before, after = asyncio.run(scenario())
    assert before == {"error": 3}
    assert after == {"completed": 4, "error": 3}


def test_the_timeseries_and_histogram_files_of_a_small_run(tmp_path: Path) -> None:
    plan = tiny({"latency": "20ms", "version": "v3"}, app_count=1, db_count=1)
    clock = FakeClock()

    async def scenario() -> dict[str, Any]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, request_timeout=60, out_dir=tmp_path))
        for host in run.hosts:
            host.clock = clock
        await run.start()
        clock.now += 0.5
        await tick(run, 3)  # second 0 (the db answers at 0.52 s)
        clock.now += 1.0
        await tick(run, 2)  # second 1
        return await run.finish()

    result = asyncio.run(scenario())
    summary = summarise(plan, RunConfig(arch=plan.arch, out_dir=tmp_path), result, 0.0)

    zero, db_time = f"{ms(histogram.UNIT):g}", f"{ms(histogram.upper_bound(histogram.bucket_of(0.02))):g}"
    rows = list(csv.reader((tmp_path / "timeseries.csv").open()))
    assert rows == [
        list(TIMESERIES_HEADER),
        ["0", "app", "v1", "zoneA", "3", "0", zero, zero],
        ["0", "db", "v3", "zoneA", "3", "0", db_time, db_time],
        ["1", "app", "v1", "zoneA", "2", "0", zero, zero],
        ["1", "db", "v3", "zoneA", "2", "0", db_time, db_time],
    ]
    header = (tmp_path / "timeseries.csv").read_text().splitlines()[0]
    assert header == "second,service,version,zone,requests,errors,p50_ms,p99_ms"
    document = json.loads((tmp_path / "histograms.json").read_text())
    assert sorted(document["services"]) == ["app", "db"]
    db = document["services"]["db"]
    assert db["buckets"] == [[float(db_time), 5]]
    assert db["count"] == 5 and db["p50_ms"] == db["p99_ms"] == db["max_ms"] == float(db_time)
    assert document["entry"]["count"] == summary.requests_completed == 5
    with (tmp_path / "histograms" / "db.csv").open() as f:
        assert list(csv.reader(f)) == [["upper_bound_ms", "count"], [db_time, "5"]]
    for name in ("timeseries.csv", "histograms.json", "histograms/app.csv", "histograms/db.csv"):
        assert str(tmp_path / name) in summary.files
    assert summary.files[-1] == str(tmp_path / "summary.json")


def test_write_series_of_a_run_without_replies_writes_headers_only(tmp_path: Path) -> None:
    written = write_series(tmp_path, {})
    assert [p.name for p in written] == ["timeseries.csv", "histograms.json"]
    assert (tmp_path / "timeseries.csv").read_text() == ",".join(TIMESERIES_HEADER) + "\n"
    assert json.loads((tmp_path / "histograms.json").read_text())["entry"]["count"] == 0


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            {"latency": "fast"},
            "$.services[0].latency: 'fast' is not a duration; use seconds (2.5) or Go style",
        ),
        (
            {"latency": {"p98": "1ms"}},
            "$.services[0].latency.p98: unknown key 'p98'; remove it or use one of:",
        ),
        ({"errors": 2}, "$.services[0].errors: rate 2 is outside 0-1; give a fraction such as 0.3"),
        (
            {"latency": {"median": "40ms", "p99": "4ms"}},
            "$.services[0].latency: p99 4ms is below the median 40ms; p99 must be at least the median",
        ),
    ],
)
def test_bad_profile_fields_are_one_located_line_each(fields: dict[str, Any], line: str) -> None:
    with pytest.raises(InputError) as caught:
        tiny(fields)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"tiny_arch.json: {line}")


def test_profiles_reach_the_plan_and_services_without_them_have_none() -> None:
    plan = tiny({"latency": {"p50": "1ms", "p90": "5ms", "p99": "20ms"}, "errors": "2%"})
    profiles = {s.service: s.profile for s in plan.instances}
    assert profiles["app"] is None and profiles["www"] is None
    db = profiles["db"]
    assert db is not None and db.errors == ErrorRate(0.02)
    assert db.latency is not None and db.latency.points == ((0.5, 0.001), (0.9, 0.005), (0.99, 0.02))  # type: ignore[union-attr]
