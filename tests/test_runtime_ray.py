"""End-to-end runs on a real (embedded, loopback) Ray. Each run stays under ~30 Ray actors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.discovery_rules import expected_edges, expected_nodes
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.plan import DeploymentPlan, expand
from nanoservices.result import Accounted
from nanoservices.simulation import NotEnoughMemory, run
from support.events import timeline_events

pytestmark = pytest.mark.ray

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


def simulate(ray_local: object, plan: DeploymentPlan, out: Path, **options: object) -> dict[str, object]:
    settings: dict[str, object] = {"arch": plan.arch, "duration": 2.0, "out_dir": out, "poll_interval": 0.5}
    settings.update(options)
    summary = run(RunConfig(**settings), plan)  # type: ignore[arg-type]
    written = json.loads((out / "summary.json").read_text())
    assert written["accounted"] is True, written
    assert summary.accounted
    return written


def test_lamp_graph_equals_spigos_sample(ray_local: object, tmp_path: Path, spigo_data: Path) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "lamp_arch.json"))
    summary = simulate(ray_local, plan, tmp_path, instances_per_host=100)
    graph = read_graph_json(tmp_path / "graph.json")
    sample = read_graph_json(spigo_data / "lamp.json")
    assert set(graph.nodes) == set(sample.nodes) and len(graph.nodes) == 23
    assert graph.edges == sample.edges and len(graph.edges) == 73
    assert set(graph.done) == set(graph.nodes)
    assert set(graph.done.values()) == {"normal"}
    assert summary["requests_issued"] > 0
    assert summary["requests_completed"] == summary["requests_issued"] - summary["requests_in_flight"]
    # one per zone, the cross-zone elb, and a host per traffic source worker (one per core here)
    assert summary["hosts"] == 4 + max(1, len(summary["sources"]))


def test_one_actor_per_instance_and_packed_give_identical_graphs(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    plan = expand(load_architecture(tiny_arch))
    graphs = []
    for per_host in (1, 100):
        out = tmp_path / f"k{per_host}"
        summary = simulate(ray_local, plan, out, instances_per_host=per_host, chaos=False)
        workers = max(1, len(summary["sources"]))  # the www's source workers: a host each
        assert summary["hosts"] == (len(plan.instances) - 1 if per_host == 1 else 4) + workers
        graphs.append(read_graph_json(out / "graph.json"))
    one, packed = graphs
    assert set(one.nodes) == set(packed.nodes) == expected_nodes(plan)
    assert one.edges == packed.edges == expected_edges(plan)
    assert one.done == packed.done == dict.fromkeys(one.nodes, "normal")


def test_chaos_monkey_kills_an_actor_and_the_run_accounts_for_it(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    plan = expand(load_architecture(tiny_arch))
    summary = simulate(
        ray_local,
        plan,
        tmp_path,
        instances_per_host=1,
        duration=8.0,  # the kill at 4 s; 4 s for the lease (1.5 s) to expire and the callers to poll
        poll_interval=0.25,
        lease_renewal=0.5,  # 0.2 s heartbeats came late while 11 actors started on 2 cores
        retries=0,
        rate=50,
    )
    [event] = summary["events"]
    assert event["method"] == "ray.kill"
    victim = event["instance"]
    graph = read_graph_json(tmp_path / "graph.json")
    victim_node = next(n for n in graph.nodes if victim.split(".")[4] in n)
    assert graph.done[victim_node] == "chaos"
    assert all(exit == "normal" for node, exit in graph.done.items() if node != victim_node)
    assert set(graph.done) == set(graph.nodes)
    # The proxy in the victim's zone routed only to it: it forgets the victim at the next poll
    # after the registries evicted its lease (3 renewal periods: 1.5 s).
    assert any(target == victim_node for _, target in graph.forgets.values())
    assert summary["instances_killed"] == 1
    assert summary["requests_failed_total"] > 0
    assert set(summary["requests_failed"]) <= {
        "dead_instance",
        "no_route",
        "timeout",
        "stopped",
        "short_circuited",
    }


def test_refuses_a_plan_larger_than_memory_and_suggests_packing(ray_local: object, tmp_path: Path) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), scale=2000)
    with pytest.raises(NotEnoughMemory, match=r"--instances-per-host \d+"):
        run(RunConfig(arch=plan.arch, duration=1.0, out_dir=tmp_path), plan)


def test_a_host_dying_outside_chaos_is_reported_as_a_failure(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    import threading

    import ray

    plan = expand(load_architecture(tiny_arch))
    db = next(s for s in plan.instances if s.service == "db")
    progress: list[str] = []
    traffic = threading.Event()
    result: dict[str, object] = {}

    def on_progress(line: str) -> None:
        progress.append(line)
        if "traffic running" in line:
            traffic.set()

    def simulate_in_background() -> None:
        config = RunConfig(  # one traffic source: host i runs instance i
            arch=plan.arch, duration=6.0, out_dir=tmp_path, chaos=False, poll_interval=0.25, sources=1
        )
        result["summary"] = run(config, plan, on_progress=on_progress)

    worker = threading.Thread(target=simulate_in_background)
    worker.start()
    try:
        assert traffic.wait(timeout=120), progress
        host_index = plan.instances.index(db)  # K=1: host i runs instance i
        ray.kill(ray.get_actor(f"host:{host_index}"), no_restart=True)
    finally:
        worker.join(timeout=120)
    summary = result["summary"]
    assert summary.hosts_died == {str(host_index): "ActorDiedError"}  # type: ignore[attr-defined]
    assert summary.accounted is Accounted.UNCHECKED  # type: ignore[attr-defined]  # its hops died with it
    lines = summary.lines()  # type: ignore[attr-defined]
    assert f"  hosts died outside chaos: 1: host {host_index} (ActorDiedError)" in lines
    # The dead host's instances did start; its counts died with it, and the summary says so.
    assert lines[1].startswith(f"  instances: {len(plan.instances)} started, ")
    assert ", 1 died with their hosts, " in lines[1]
    assert summary.unchecked_hosts == [host_index]  # type: ignore[attr-defined]
    graph = read_graph_json(tmp_path / "graph.json")
    assert graph.done[db.node] == "failure"
    assert set(graph.done) == set(graph.nodes)


@pytest.mark.parametrize(
    ("arch", "per_host"),
    [
        pytest.param("lamp", 1, marks=pytest.mark.heavy),  # one actor per instance: make test < 10 min
        ("lamp", 100),
        pytest.param("netflixoss", 1, marks=pytest.mark.heavy),
        ("netflixoss", 100),
    ],
)
def test_socket_and_ray_transports_give_the_same_graph_and_both_account_for_everything(
    ray_local: object, tmp_path: Path, arch: str, per_host: int
) -> None:
    plan = expand(load_architecture(ARCHITECTURES / f"{arch}_arch.json"))
    graphs = {}
    for transport in ("socket", "ray"):
        out = tmp_path / transport
        summary = simulate(
            ray_local,
            plan,
            out,
            instances_per_host=per_host,
            transport=transport,
            chaos=False,
            duration=3.0,
            request_timeout=10.0,
        )  # simulate() asserts both ends of every hop agree
        assert summary["transport"] == transport
        assert summary["requests_completed"] > 0  # at K=1 over Ray a busy machine times some out
        assert sum(h["sent"] for h in summary["hops"]) > 0
        graphs[transport] = read_graph_json(out / "graph.json")
    socket, over_ray = graphs["socket"], graphs["ray"]
    assert set(socket.nodes) == set(over_ray.nodes) == expected_nodes(plan)
    assert socket.edges == over_ray.edges == expected_edges(plan)


def test_garbage_sent_to_a_live_hosts_port_is_refused_and_counted_while_the_run_goes_on(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    import socket
    import struct
    import threading

    import ray

    plan = expand(load_architecture(tiny_arch))
    traffic = threading.Event()
    result: dict[str, object] = {}

    def on_progress(line: str) -> None:
        if "traffic running" in line:
            traffic.set()

    def simulate_in_background() -> None:
        config = RunConfig(arch=plan.arch, duration=4.0, out_dir=tmp_path, chaos=False, poll_interval=0.25)
        result["summary"] = run(config, plan, on_progress=on_progress)

    worker = threading.Thread(target=simulate_in_background)
    worker.start()
    try:
        assert traffic.wait(timeout=120)
        db = next(i for i, s in enumerate(plan.instances) if s.service == "db")  # K=1: host i runs instance i
        host, port = ray.get(ray.get_actor(f"host:{db}").address.remote())
        assert host == "127.0.0.1"  # the node IP: loopback in laptop mode, never 0.0.0.0
        wrong_token = b"NSDP" + struct.pack("!HH", 1, 5) + b"guess" + struct.pack("!II", 0, db)
        for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", wrong_token):
            with socket.create_connection((host, port), timeout=30) as raw:
                raw.sendall(garbage)
                raw.shutdown(socket.SHUT_WR)
                while raw.recv(4096):  # the host closes the connection: read to the end
                    pass
    finally:
        worker.join(timeout=120)
    summary = result["summary"]
    assert summary.refused["malformed"] == 1 and summary.refused["refused_token"] == 1  # type: ignore[attr-defined]
    assert summary.accounted and summary.requests_completed > 0  # type: ignore[attr-defined]
    assert not summary.hosts_died  # type: ignore[attr-defined]
    assert "none refused" not in summary.lines()[4]  # type: ignore[attr-defined]


@pytest.mark.parametrize("per_host", [pytest.param(1, marks=pytest.mark.heavy), 100])
def test_red_black_deploy_on_ray_loses_nothing_and_retires_the_old_group(
    ray_local: object, tmp_path: Path, tiny_arch: Path, per_host: int
) -> None:
    """The Ray supervisor's deploy: new host actors mid-run, Eureka statuses, the old group
    retired; every request still completes and every hop still adds up."""
    plan = expand(load_architecture(tiny_arch))
    old = {s.node for s in plan.instances if s.service == "app"}
    scenario = tmp_path / "deploy.yaml"
    scenario.write_text(
        "timeline:\n  - at: 1s\n    deploy: {service: app, version: v2, strategy: redblack, keep: 1s}\n"
    )
    out = tmp_path / "run"
    summary = simulate(
        ray_local, plan, out, instances_per_host=per_host, chaos=False, duration=10.0, poll_interval=0.25,
        rate=20, scenario_file=scenario,
    )  # fmt: skip
    [deploy] = summary["deploys"]
    assert deploy["outcome"] == "promoted" and deploy["strategy"] == "redblack"
    assert summary["requests_failed"] == {} and summary["requests_completed"] > 0
    graph = read_graph_json(out / "graph.json")
    assert {node: graph.done[node] for node in old} == dict.fromkeys(old, "retired")
    new = set(graph.nodes) - {s.node for s in plan.instances}
    assert len(new) == len(old) and {graph.done[n] for n in new} == {"normal"}
    kinds = [e["kind"] for e in timeline_events(out)]
    assert kinds == ["deploy-start", "group-up", "traffic-shift", "group-stopped", "promote"]
    assert set(summary["requests_by_version"]["app"]) == {"v1", "v2"}
    assert (out / "report.html").exists()
