"""Traffic sources that scale out (runtime/sources.py): a denominator's traffic made by N workers,
each a host of its own at rate/N, one www node in the graph, every entry request one whole trace.
The planning is pure (no Ray); the run is in process (LocalRun) into a real OTLP receiver."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.naming import PROCESS, field, to_node_name
from nanoservices.outputs.names import short_name
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.placement import host_setups, placement_of
from nanoservices.runtime.sources import (
    WORKER_ATTRIBUTE,
    default_count,
    node_for,
    split_in_flight,
    spread,
    worker_name,
    worker_rows,
)
from nanoservices.summary import summarise
from nanoservices.tracing import HostTracing, OtlpEndpoint, TracingSettings
from support.otlp_receiver import OtlpReceiver

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"
TICKS = 20


def plan_of(arch: str) -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / f"{arch}_arch.json"), 100, 1)


def test_worker_counts_default_to_nodes_in_a_cluster_and_cores_on_one_machine() -> None:
    assert default_count(nodes=4, cpus=4) == 4
    assert default_count(nodes=1, cpus=8) == 8
    assert default_count(nodes=1, cpus=0.5) == 1
    assert [node_for(k, ["a", "b", "c"]) for k in range(4)] == ["a", "b", "c", "a"]
    assert node_for(1, ["a"]) is None and node_for(-1, ["a", "b"]) is None
    assert split_in_flight(64, 3) == 22 and split_in_flight(0, 3) == 0 and split_in_flight(1, 3) == 1


def test_workers_differ_only_in_a_field_the_graph_leaves_out() -> None:
    www = next(s for s in plan_of("netflixoss").instances if s.package == "denominator")
    names = [worker_name(www.name, k) for k in range(3)]
    assert names[0] == www.name and len(set(names)) == 3
    assert [field(n, PROCESS) for n in names] == ["", "source1", "source2"]
    assert {to_node_name(n) for n in names} == {www.node}
    assert {short_name(n) for n in names} == {short_name(www.name)}
    assert {short_name(n, reduce=True) for n in names} == {short_name(www.name, reduce=True)}


def test_spread_gives_each_worker_a_host_of_its_own_at_its_share_of_the_rate() -> None:
    plan = plan_of("netflixoss")
    config = RunConfig(arch=plan.arch, rate=300, instances_per_host=100, max_in_flight=64)
    before = host_setups(plan, config)
    after = spread(before, 3)
    assert [s.index for s in after] == list(range(len(after)))
    workers = [s for s in after if any(x.package == "denominator" for x in s.specs)]
    assert len(workers) == 3 and all(len(s.specs) == 1 for s in workers)  # packed: still alone
    assert [s.specs[0].source_worker for s in workers] == [0, 1, 2]
    assert all(s.settings.request_interval == config.behaviour_settings.request_interval * 3 for s in workers)
    assert all(s.max_in_flight == 22 for s in workers)
    # Every other instance still runs, once, with the run's settings; the node set is unchanged.
    others = [x for s in after if s not in workers for x in s.specs]
    assert sorted(x.name for x in others) == sorted(
        s.name for s in plan.instances if s.package != "denominator"
    )
    assert all(s.settings == config.behaviour_settings for s in after if s not in workers)
    assert {x.node for s in after for x in s.specs} == {s.node for s in plan.instances}
    assert len(placement_of(after)) == len(plan.instances) + 2
    assert spread(before, 1) == before


def test_spread_gives_traced_runs_each_worker_its_address() -> None:
    plan = plan_of("lamp")
    config = RunConfig(arch=plan.arch, tracing=TracingSettings())
    after = spread(host_setups(plan, config), 2)
    www = next(s for s in plan.instances if s.package == "denominator")
    addresses = after[0].addresses
    assert addresses is not None and addresses[worker_name(www.name, 1)] == www.ip
    assert all(s.addresses is addresses for s in after)


def test_three_workers_make_whole_traces_one_www_node_and_name_themselves(tmp_path: Path) -> None:
    plan = plan_of("netflixoss")
    with OtlpReceiver() as rx:
        settings = TracingSettings(endpoints=(OtlpEndpoint(url=rx.otlp_grpc_endpoint, protocol="grpc"),))
        config = RunConfig(
            arch=plan.arch,
            seed=3,
            instances_per_host=100,
            chaos=False,
            sources=3,
            tracing=settings,
            out_dir=tmp_path,
        )
        tracings: list[HostTracing] = []

        class TracedRun(LocalRun):
            def _host(self, setup: HostSetup) -> HostCore:
                tracing = HostTracing(settings, f"host-{setup.index}")
                tracings.append(tracing)
                return HostCore(setup, tracing=tracing, clock=time.time)

        async def go() -> tuple[TracedRun, dict[str, object]]:
            run = TracedRun(plan, config)
            await run.start()
            workers = [x for host in run.hosts for x in host.instances.values() if x.spec.source_worker >= 0]
            assert [len(run.hosts[run.host_of(w.name)].instances) for w in workers] == [1, 1, 1]
            for _ in range(TICKS):
                for worker in workers:
                    worker.behaviour.tick()  # type: ignore[attr-defined]
                await run.settle()
            return run, await run.finish()

        run, result = asyncio.run(go())
        created = 0
        for tracing in tracings:
            shut = tracing.shutdown(10)
            created += int(shut["created"])
        assert rx.wait_for(created, timeout=30), (rx.count, created)
        spans = rx.spans()
        assert rx.missing_parents() == {}
        roots = [s for s in spans if not s.parent_span_id]
        assert len(roots) == 3 * TICKS  # one root per entry request: each a trace of its own
        assert all(sum(1 for s in trace if not s.parent_span_id) == 1 for trace in rx.traces().values())
        by_worker = {(r.resource["service.instance.id"], r.resource[WORKER_ATTRIBUTE]) for r in roots}
        www = next(s for s in plan.instances if s.package == "denominator")
        assert by_worker == {(worker_name(www.name, k), k) for k in range(3)}
    summary = summarise(plan, config, result, 1.0)
    assert summary.accounting_problems == [] and summary.accounted
    assert summary.requests_issued == summary.requests_completed == 3 * TICKS
    # The graph keeps spigo's node set: one www node, whichever worker's records came first.
    assert summary.nodes == len({s.node for s in plan.instances})
    assert [(r["worker"], r["issued"]) for r in summary.sources] == [(0, TICKS), (1, TICKS), (2, TICKS)]
    assert summary.traffic_sources == 3
    lines = summary.lines()
    assert any(line.startswith("  traffic sources: 3 workers") for line in lines), lines
    for k in range(3):
        assert any(f"worker {k} {worker_name(www.name, k)} (host " in line for line in lines)
    # Only worker 0 is in Eureka: the others call, nobody discovers them.
    registered = {name for registry in run.peers.registries for name in registry._by_name}
    assert www.name in registered and not registered & {worker_name(www.name, k) for k in (1, 2)}


def test_a_rate_not_held_names_the_worker_most_held_back_and_its_share_of_the_limit() -> None:
    from test_summary import summary

    rows = worker_rows(
        {
            "a.*.*..www00...www.denominator": row(0, host=3, issued=900, throttled=10),
            "a.*.*..www00..source1.www.denominator": row(1, host=4, issued=600, throttled=2_000),
        },
        [{"host": 3, "node": "n0"}, {"host": 4, "node": "n1"}],
    )
    assert [(r["worker"], r["node"], r["rate"]) for r in rows] == [(0, "n0", 90.0), (1, "n1", 60.0)]
    held = summary(ticks_throttled=2_010, max_in_flight=64, requests_issued=1500, requests_completed=1500,
                   requests_failed={}, requests_in_flight=0, requested_rate=2000.0, sources=rows)  # fmt: skip
    lines = held.lines()
    traffic = next(line for line in lines if line.startswith("  traffic: "))
    assert traffic.endswith(
        "most held back: worker 1 of www00 (host 4), 2,000 ticks skipped at its --max-in-flight share of 32, "
        "0 its host could not run)"
    )
    assert "  traffic sources: 2 workers, 1,000 requests/s asked of each" in lines
    assert (
        "    worker 1 a.*.*..www00..source1.www.denominator (host 4, node n1): 60 requests/s, 600 issued"
        in lines
    )
    assert not any("most held back" in line for line in summary(sources=rows).lines())  # held: no blame


def row(worker: int, host: int, issued: int, throttled: int) -> dict[str, float]:
    return {
        "worker": worker, "host": host, "issued": issued, "seconds": 10.0, "ticks_skipped": 0,
        "ticks_throttled": throttled, "max_in_flight": 32,
    }  # fmt: skip


def test_a_machine_lost_to_a_gorilla_takes_no_source_worker_counts_with_it() -> None:
    """Cluster mode: a worker on the zone's machine is the load's harness, not the zone's system:
    its counts are collected and its actor killed before the machine goes; zone hosts go as before."""
    from nanoservices.chaos import HostLoss
    from nanoservices.runtime.sources import spare_the_harness, workers_of

    plan = plan_of("lamp")
    www = next(s for s in plan.instances if s.package == "denominator")
    zone_spec = next(s for s in plan.instances if s.zone != "*")
    worker = workers_of(www, 3)[2]

    class Control:
        def __init__(self) -> None:
            self.frozen: list[int] = []
            self.killed: list[int] = []
            self.losses: list[HostLoss] = []

        async def freeze_host(self, host: int) -> dict[str, object] | None:
            self.frozen.append(host)
            return {"requests_issued": 5}

        def kill_host(self, host: int) -> None:
            self.killed.append(host)

        def lost_hosts(self, losses: list[HostLoss]) -> None:
            self.losses += losses

    control = Control()
    dying = {3: [zone_spec], 7: [worker]}
    asyncio.run(spare_the_harness(control, dying, {3}))
    assert dying == {3: [zone_spec]}
    assert control.frozen == control.killed == [7]
    assert control.losses == [HostLoss(7, (worker.name,), {"requests_issued": 5})]
