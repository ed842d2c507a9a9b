"""Overload that emerges: capacity on a service, load ramped by the scenario, in process on virtual time.

A small architecture (www -> api -> db) whose `api` has 3 instances of 4 workers at 40 ms each:
300 requests/s in all. The scenario ramps www from 50 to 600 requests/s. Before the knee the
per-second p99 of api rises with its queue and nothing fails; the first second with a rejection
comes within 20 % of the capacity the fields imply; from then on rejections are 503 error spans.
"""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from nanoservices.architecture import parse_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs import histogram
from nanoservices.outputs.series import series_rows, write_series
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.runtime.spans import QUEUE_LENGTH_ATTRIBUTE, QUEUE_WAIT_ATTRIBUTE
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.distributions import Fixed
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.simian import Simian
from nanoservices.scenario.timeline import run_timeline
from nanoservices.scenario.validate import parse_scenario
from support import virtual_time

WORKERS, INSTANCES, SERVICE_TIME = 4, 3, 0.040
CAPACITY = WORKERS * INSTANCES / SERVICE_TIME  # 300 requests/s
START_RATE = 50.0
DURATION = 16.0


def architecture(capacity: dict[str, Any], instances: int = INSTANCES) -> DeploymentPlan:
    document = {
        "arch": "knee",
        "services": [
            {"name": "www", "package": "denominator", "count": 0, "dependencies": ["api"]},
            {
                "name": "api",
                "package": "staash",
                "count": instances,
                "regions": 1,
                "dependencies": ["db"],
                "capacity": capacity,
            },
            {"name": "db", "package": "store", "count": 3, "regions": 1},
        ],
    }
    return expand(parse_architecture(json.dumps(document), "knee_arch.json", "knee"), 100, 1)


class VirtualFleet(LocalFleet):
    """LocalFleet on the loop's virtual clock: the hosts' own traffic timers tick, waiting is sleeping."""

    def clock(self) -> float:
        return virtual_time.clock()

    def now(self) -> float:
        return self.clock() - self.run.started_at

    async def wait(self, seconds: float) -> bool:
        await asyncio.sleep(max(seconds, 0.0))
        return True


async def play_timeline(run: LocalRun, scenario: Any, duration: float) -> tuple[list[Event], Any]:
    """Start `run` with its traffic timers, play `scenario`'s timeline on the virtual loop's clock
    until `duration`, stop the traffic and settle: the timeline's events and the run's result."""
    fleet = VirtualFleet(run)
    await run.start(traffic_timers=True)
    expiring = asyncio.get_running_loop().create_task(expire(run))
    await run_timeline(scenario, Asgard.of_plan(fleet, run.plan.instances), fleet, Simian(fleet))
    await fleet.wait(duration - fleet.now())
    for host in run.hosts:
        host.stop_traffic()
    await run.settle()
    expiring.cancel()
    return fleet.events, await run.finish()


def play(
    plan: DeploymentPlan, timeline: str, duration: float, **options: Any
) -> tuple[LocalRun, list[Event], dict[str, Any]]:
    from test_latency_window import TracedRun  # in-memory SDK spans on the loop's clock

    async def main() -> tuple[LocalRun, list[Event], dict[str, Any]]:
        scenario = parse_scenario(timeline, "test.yaml", plan, duration)
        settings: dict[str, Any] = {"rate": START_RATE, "max_in_flight": 0, **options}
        load = scenario.schedules(settings["rate"])
        config = RunConfig(arch=plan.arch, load=load, **settings)
        run = TracedRun(plan, config)
        events, result = await play_timeline(run, scenario, duration)
        return run, events, result

    TracedRun.exporter.clear()
    return virtual_time.run(main())


async def expire(run: LocalRun) -> None:
    """The hosts' timeout loops (an in-process run starts none): every 10 ms of virtual time."""
    while True:
        await asyncio.sleep(0.01)
        for i, host in enumerate(run.hosts):
            if i not in run.peers.dead:
                host.expire_due(virtual_time.clock())


RAMP = """
timeline:
  - at: 1s
    load: {service: www, ramp: {to: 600, over: 14s}}
"""


def per_second(stats: dict[str, Any], service: str) -> dict[int, dict[str, Any]]:
    """The service's series rows summed over versions and zones, by second."""
    rows: dict[int, dict[str, Any]] = {}
    for second, name, _version, _zone, row in series_rows(stats["series"]):
        if name != service:
            continue
        into = rows.setdefault(second, {"requests": 0, "errors": 0, "rejected": 0, "h": {}})
        into["requests"] += row["requests"]
        into["errors"] += row["errors"]
        into["rejected"] += row.get("rejected", 0)
        for bucket, n in histogram.from_counts(row["h"]).items():
            into["h"][bucket] = into["h"].get(bucket, 0) + n
    return rows


def rate_at(second: float) -> float:
    """The ramp's offered rate at `second` (50/s until 1 s, then +550/s over 14 s)."""
    return START_RATE + (600 - START_RATE) * min(max(second - 1, 0.0), 14.0) / 14.0


def test_a_ramp_finds_the_knee_the_capacity_fields_imply_latency_first_then_rejections(
    tmp_path: Path,
) -> None:
    capacity = {"workers": WORKERS, "queue": 10, "service_time": f"{SERVICE_TIME * 1000:g}ms"}
    _run, events, result = play(architecture(capacity), RAMP, DURATION)
    stats = result.stats
    rows = per_second(stats, "api")
    knee = min(second for second, row in rows.items() if row["rejected"])
    offered = rate_at(knee + 0.5)  # the mean offered rate over the knee's second
    assert abs(offered - CAPACITY) <= 0.2 * CAPACITY, (knee, offered)
    # Before the knee: no errors at all, and the p99 (queue wait + service) grew with the load.
    before = [rows[s] for s in sorted(rows) if s < knee]
    assert all(row["errors"] == 0 for row in before)
    p99 = [histogram.quantile(row["h"], 0.99) for row in before]
    assert p99[0] < SERVICE_TIME * 1.1 < p99[-1]
    # After it, rejections every second while the offered load stays above capacity.
    assert all(rows[s]["rejected"] > 0 for s in range(knee, int(DURATION) - 1))
    assert stats["requests_failed"].get("rejected", 0) > 0
    # Every request is accounted for: ended OK, failed by reason, or still out at the end.
    failed = sum(stats["requests_failed"].values())
    assert stats["requests_issued"] == stats["requests_completed"] + failed + stats["requests_in_flight"]
    # capacity.csv: per second and zone, summed here over zones; busy near 1 once rejecting
    write_series(tmp_path, stats)
    with (tmp_path / "capacity.csv").open() as f:
        table = [row for row in csv.DictReader(f) if row["service"] == "api"]
    assert {row["zone"] for row in table} == {"zoneA", "zoneB", "zoneC"}
    assert sum(int(row["rejected"]) for row in table) == sum(r["rejected"] for r in rows.values())
    late = [float(row["utilisation"]) for row in table if knee < int(row["second"]) < DURATION - 1]
    early = [float(row["utilisation"]) for row in table if int(row["second"]) < 2]
    assert min(late) > 0.9 and max(early) < 0.5
    # The load change is an event at its time.
    (load,) = [e for e in events if e.kind is EventKind.LOAD_CHANGE]
    assert (round(load.at, 6), load.service, load.details["shape"]) == (1.0, "www", "ramp")

    from test_latency_window import TracedRun

    servers = [
        s
        for s in TracedRun.exporter.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name == "GET /api"
    ]
    rejected = [s for s in servers if (s.attributes or {}).get("http.response.status_code") == 503]
    served = [s for s in servers if QUEUE_WAIT_ATTRIBUTE in (s.attributes or {})]
    assert rejected and all(QUEUE_WAIT_ATTRIBUTE not in (s.attributes or {}) for s in rejected)
    assert all(not s.status.is_ok for s in rejected)

    def duration(span: ReadableSpan) -> float:
        assert span.start_time is not None and span.end_time is not None
        return (span.end_time - span.start_time) / 1e9

    # A served request's SERVER span covers its queue wait and its service time.
    for span in served:
        attributes = span.attributes or {}
        wait = float(attributes[QUEUE_WAIT_ATTRIBUTE]) / 1000  # type: ignore[arg-type]
        assert duration(span) >= wait + SERVICE_TIME - 1e-6
        assert int(attributes[QUEUE_LENGTH_ATTRIBUTE]) <= 10  # type: ignore[arg-type]
    assert max(float((s.attributes or {})[QUEUE_WAIT_ATTRIBUTE]) for s in served) > 0  # type: ignore[arg-type]


GORILLA = """
timeline:
  - at: 4s
    gorilla: us-east-1/zoneB
"""


def zone_p99(stats: dict[str, Any], service: str, zones: set[str], seconds: range) -> float:
    """The p99 of the service's replies in these zones over these seconds."""
    merged: dict[int, int] = {}
    for second, name, _version, zone, row in series_rows(stats["series"]):
        if name == service and zone in zones and second in seconds:
            for bucket, n in histogram.from_counts(row["h"]).items():
                merged[bucket] = merged.get(bucket, 0) + n
    return histogram.quantile(merged, 0.99)


def test_a_gorilla_moves_zoneB_load_onto_the_other_zones_and_their_p99_rises() -> None:
    # 2 api instances per zone, 2 workers of 20 ms each: 600/s in all, 400/s without zoneB.
    plan = architecture({"workers": 2, "queue": 50, "service_time": "20ms"}, instances=6)
    _run, events, result = play(plan, GORILLA, 10.0, rate=360.0, arrivals="poisson")
    assert [e.kind for e in events if e.kind is EventKind.GORILLA]
    stats = result.stats
    others = {"zoneA", "zoneC"}
    before = zone_p99(stats, "api", others, range(1, 4))
    during = zone_p99(stats, "api", others, range(6, 10))
    assert before < during, (before, during)
    assert during > 1.5 * before  # 60 % busy before, 90 % after: queueing shows in the tail


INCIDENT = """
timeline:
  - at: 4s
    for: 5s
    latency: {service: api, add: 5s}
"""


def success(stats: dict[str, Any], seconds: range) -> float:
    """The share of entry requests ended in these seconds that completed."""
    rows = [stats["entry_series"].get(str(s), {"requests": 0, "errors": 0}) for s in seconds]
    ended = sum(r["requests"] for r in rows)
    return 1 - sum(r["errors"] for r in rows) / ended


def test_retrying_timeouts_near_saturation_keeps_a_latency_incident_going_after_it_ends() -> None:
    """Metastability: api runs at 2/3 of its capacity (400 of 600/s) with callers that give up
    after 100 ms. A 5 s latency incident times every request out; the breaker opens and sheds.
    With --retries 0 the queue drains and success is back once the breaker closes. With --retries 3
    (timed-out GETs retried on the next server) each request becomes up to 4 tries of work,
    stale queued tries keep every queue past the timeout, and success stays low long after."""
    plan = architecture({"workers": 4, "queue": 50, "service_time": "20ms"})
    outcomes = {}
    for retries in (0, 3):
        _run, _events, result = play(
            plan,
            INCIDENT,
            24.0,
            rate=400.0,
            retries=retries,
            retry_timeouts=True,
            timeouts={"api": 0.1},
            request_timeout=1.0,
        )
        stats = result.stats
        outcomes[retries] = (success(stats, range(4)), success(stats, range(14, 24)), stats["retries"])
    assert outcomes[0][0] == outcomes[3][0] == 1.0  # before the incident: every request served
    assert outcomes[0][1] >= 0.9  # --retries 0: recovered within 5 s of the incident's end (9 s)
    assert outcomes[3][1] <= 0.5  # --retries 3: still failing 5-15 s after it ended
    assert outcomes[3][2] > 0 == outcomes[0][2]


def test_a_blocking_server_holds_its_worker_while_it_waits_for_its_own_calls() -> None:
    """db answers in 40 ms. api's 2 workers serve 10 ms each: 200/s when a worker is free while
    api waits for db, 2 / 50 ms = 40/s when it is held (blocking: true). At 80/s only the blocking
    one rejects, and its in-service count stays at its 2 workers."""
    rejected = {}
    for blocking in (False, True):
        capacity = {"workers": 2, "queue": 4, "service_time": "10ms", "blocking": blocking}
        plan = architecture(capacity, instances=1)
        slow_db = [
            replace(s, profile=VersionBehaviour(latency=Fixed(0.04))) if s.service == "db" else s
            for s in plan.instances
        ]
        _run, _events, result = play(replace(plan, instances=tuple(slow_db)), "timeline: []", 5.0, rate=80.0)
        stats = result.stats
        rejected[blocking] = stats["requests_failed"].get("rejected", 0)
        served = [row for _s, name, _v, _z, row in series_rows(stats["series"]) if name == "api"]
        assert all(row.get("in_service", 0) <= 2 * row.get("arrivals", 0) for row in served)
    assert rejected[False] == 0 < rejected[True]
