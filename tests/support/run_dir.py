"""Run directories for report tests, written without Ray: a shipped architecture's plan as graph.json
(with the real writer), a red/black deploy and a chaos kill as events (the real Event type), and
series, histograms and Zipkin traces generated to match. Returns what a report must show."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nanoservices import catalog
from nanoservices.naming import full_name, node_name
from nanoservices.outputs.graph_json import write_graph_json
from nanoservices.outputs.records import DoneRecord, EdgeRecord, GraphRecord, NodeRecord
from nanoservices.plan import InstanceSpec
from nanoservices.scenario.events import Event, EventKind

T0 = 1_800_000_000.0  # the run's start, epoch seconds
SECONDS = 20
PARTIAL = 0.6  # the traffic ran SECONDS + PARTIAL seconds: the last second is partial
DRAIN = SECONDS + 1  # a second after the traffic ended, with a few late replies
DEPLOY_AT = 8.0
HOSTILE = "</script><script>window.escaped=1</script><!--"  # a detail no embedding may let out


@dataclass
class Expected:
    nodes: set[str] = field(default_factory=set)  # graph node names
    groups: set[tuple[str, str, str]] = field(default_factory=set)  # (service, region, zone)
    events: int = 0
    versions: dict[str, str] = field(default_factory=dict)  # node -> version, where events name it
    exits: dict[str, str] = field(default_factory=dict)  # node -> exit other than normal


def _summary(arch: str, instances: int, completed: int, failed: int) -> dict[str, Any]:
    return {
        "arch": arch, "out_dir": "", "instances_planned": instances, "instances_started": instances,
        "instances_killed": 1, "hosts": 3, "requests_issued": completed + failed,
        "requests_completed": completed, "requests_failed": {"timeout": failed}, "requests_in_flight": 0,
        "requested_rate": 100.0, "traffic_seconds": SECONDS + PARTIAL, "wall_seconds": 31.5,
        "nodes": instances, "edges": 0, "interrupted": False, "accounted": True, "hops": [], "placement": [],
    }  # fmt: skip


def write_planned_run(out: Path, arch: str = "netflixoss", seed: int = 1) -> Expected:
    """Every optional file too, so the report has something in every section."""
    rng = random.Random(f"{seed}:{arch}")
    plan = catalog.resolve_plan(arch)
    specs = list(plan.instances)
    expected = Expected()
    records: list[GraphRecord] = []
    by_service: dict[str, list[InstanceSpec]] = {}
    for i, spec in enumerate(specs):
        records.append(NodeRecord(spec.node, spec.package, spec.ip, T0 + i * 0.001))
        by_service.setdefault(spec.service, []).append(spec)
    for spec in specs:
        for dependency in spec.dependencies:
            targets = by_service.get(dependency, [])
            near = [t for t in targets if t.zone in (spec.zone, "*")] or targets
            records.extend(EdgeRecord(spec.node, t.node, T0 + 1) for t in near[:3])
    # Red/black of the busiest non-entry service to v2: new instances, then the v1 group retired.
    deployed = max(
        (s for s in by_service if by_service[s][0].package == "karyon"), key=lambda s: len(by_service[s])
    )
    old = by_service[deployed]
    new = [
        (full_name(arch, s.region, s.zone, f"{deployed}-v2-{k:02d}", deployed, s.package), s)
        for k, s in enumerate(old)
    ]
    for k, (_, spec) in enumerate(new):
        node = node_name(arch, spec.region, spec.zone, f"{deployed}-v2-{k:02d}")
        records.append(NodeRecord(node, spec.package, f"10.9.0.{k + 1}", T0 + DEPLOY_AT + 1))
        expected.versions[node] = "v2"
        for caller in (c for c in specs if deployed in c.dependencies):
            records.append(EdgeRecord(caller.node, node, T0 + DEPLOY_AT + 2))
    for spec in old:
        records.append(DoneRecord(spec.node, "retired", T0 + DEPLOY_AT + 5))  # type: ignore[arg-type]
        expected.exits[spec.node] = "retired"
        expected.versions[spec.node] = "v1"  # the group-stopped event names them with their version
    victim = next(s for s in specs if s.package == "staash")
    records.append(DoneRecord(victim.node, "chaos", T0 + 12))  # type: ignore[arg-type]
    expected.exits[victim.node] = "chaos"
    live = [s.node for s in specs if s.node not in expected.exits] + list(
        expected.versions.keys() - expected.exits
    )
    records.extend(DoneRecord(node, "normal", T0 + SECONDS) for node in live)  # type: ignore[arg-type]
    write_graph_json(out / "graph.json", arch, ["nanoservices", "run", arch], records, date=T0)
    for record in records:
        if isinstance(record, NodeRecord):
            expected.nodes.add(record.name)
    new_names = tuple(full for full, _ in new)
    old_names = tuple(s.name for s in old)
    events = [
        Event(DEPLOY_AT, EventKind.DEPLOY_START, deployed, ("v1", "v2"), (), {"strategy": "red-black"}),
        Event(DEPLOY_AT + 1, EventKind.GROUP_UP, deployed, ("v2",), new_names),
        Event(DEPLOY_AT + 2, EventKind.TRAFFIC_SHIFT, deployed, ("v2",), new_names, {"share": 1.0}),
        Event(DEPLOY_AT + 4, EventKind.PROMOTE, deployed, ("v2",), new_names),
        Event(DEPLOY_AT + 5, EventKind.GROUP_STOPPED, deployed, ("v1",), old_names, {"note": HOSTILE}),
        Event(12.0, EventKind.CHAOS_MONKEY, victim.service, (), (victim.name,)),
        Event(14.0, EventKind.INCIDENT_START, deployed, (), (), {"latency_ms": 200}),
        Event(16.5, EventKind.INCIDENT_END, deployed),
    ]
    (out / "events.jsonl").write_text("".join(e.to_json_line() + "\n" for e in events), encoding="utf-8")
    expected.events = len(events)
    completed, failed = _series(out, by_service, deployed, rng)
    _histograms(out, by_service, rng)
    _zipkin(out, plan.root, by_service, rng)
    (out / "summary.json").write_text(
        json.dumps(_summary(arch, len(specs), completed, failed)), encoding="utf-8"
    )
    return expected


def _series(out: Path, by_service: dict[str, list[InstanceSpec]], deployed: str, rng: random.Random) -> tuple:
    lines = ["second,service,version,zone,requests,errors,p50_ms,p99_ms"]
    completed = failed = 0
    for second in range(DRAIN + 1):
        for service, specs in by_service.items():
            version = "v2" if service == deployed and second >= DEPLOY_AT + 2 else "v1"
            for zone in sorted({s.zone for s in specs}):
                # a rate of 20 to 120 per second: fewer in the partial second, a handful after it
                requests = rng.randint(20, 120)
                requests = round(requests * PARTIAL) if second == SECONDS else requests
                requests = rng.randint(1, 3) if second == DRAIN else requests
                errors = rng.randint(0, 6) if 14 <= second < 17 else 0
                p50 = rng.uniform(2, 9) + (200 if service == deployed and 14 <= second < 17 else 0)
                lines.append(
                    f"{second},{service},{version},{zone},{requests},{errors},{p50:.3f},{p50 * 4:.3f}"
                )
                completed += requests - errors
                failed += errors
    (out / "timeseries.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return completed, failed


def _histogram(rng: random.Random, count: int) -> dict[str, Any]:
    bounds = [round(0.25 * 2 ** (k / 4), 3) for k in range(48)]  # four buckets per doubling
    counts = [0] * len(bounds)
    samples = sorted(rng.lognormvariate(1.6, 0.7) for _ in range(count))
    for sample in samples:
        counts[next((k for k, b in enumerate(bounds) if sample <= b), len(bounds) - 1)] += 1
    quantile = lambda q: samples[min(count - 1, int(q * count))]  # noqa: E731
    return {
        "buckets": [[b, n] for b, n in zip(bounds, counts, strict=True) if n],
        "count": count,
        **{f"p{q}_ms": round(quantile(q / 100), 3) for q in (50, 90, 99)},
        "max_ms": round(samples[-1], 3),
    }


def _histograms(out: Path, by_service: dict[str, list[InstanceSpec]], rng: random.Random) -> None:
    services = {service: _histogram(rng, rng.randint(200, 900)) for service in by_service}
    edges = {}
    for caller, specs in by_service.items():
        for callee in specs[0].dependencies:
            if callee in by_service:
                edge = _histogram(rng, rng.randint(50, 400))
                edges[f"{caller}->{callee}"] = {"caller": caller, "callee": callee, "errors": 1, **edge}
    document = {"services": services, "entry": _histogram(rng, 1500), "edges": edges}
    (out / "histograms.json").write_text(json.dumps(document), encoding="utf-8")


def _zipkin(
    out: Path, root: InstanceSpec | None, by_service: dict[str, list[InstanceSpec]], rng: random.Random
) -> None:
    """Traces down the dependency tree from the root; trace 5 fails at its deepest call."""
    assert root is not None
    spans: list[dict[str, Any]] = []
    for trace in range(40):
        _trace_spans(spans, trace, root, by_service, rng)
    (out / "zipkin.json").write_text(json.dumps(spans), encoding="utf-8")


def write_large_graph(out: Path, instances: int = 10_000, services: int = 50) -> Expected:
    """graph.json and summary.json only: `instances` nodes over `services` services in three zones."""
    zones = ("zoneA", "zoneB", "zoneC")
    expected = Expected()
    records: list[GraphRecord] = []
    names: dict[int, list[str]] = {}
    for i in range(instances):
        service, zone = f"svc{chr(97 + i % services // 26)}{chr(97 + i % services % 26)}", zones[i % 3]
        node = node_name("big", "us-east-1", zone, f"{service}{i // services:03d}")
        records.append(
            NodeRecord(
                node,
                "store" if i % services % 7 == 0 else "karyon",
                f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}",
                T0,
            )
        )
        names.setdefault(i % services, []).append(node)
        expected.nodes.add(node)
        expected.groups.add((service, "us-east-1", zone))
    for s, nodes in names.items():
        targets = names[(s + 1) % services]
        records.extend(EdgeRecord(node, targets[k % len(targets)], T0 + 1) for k, node in enumerate(nodes))
    write_graph_json(out / "graph.json", "big", ["nanoservices", "run", "big"], records, date=T0)
    (out / "summary.json").write_text(json.dumps(_summary("big", instances, 0, 0)), encoding="utf-8")
    return expected


def _trace_spans(
    spans: list[dict[str, Any]],
    trace: int,
    root: InstanceSpec,
    by_service: dict[str, list[InstanceSpec]],
    rng: random.Random,
) -> None:
    trace_id = f"{trace + 1:032x}"
    counter = [0]

    def call(spec: InstanceSpec, parent: str, start: int, depth: int) -> int:
        counter[0] += 1
        span_id = f"{trace + 1:08x}{counter[0]:08x}"
        cursor = start + rng.randint(20, 200)
        for dependency in spec.dependencies[:3] if depth < 5 else ():
            targets = by_service.get(dependency)
            if targets:
                cursor = call(rng.choice(targets), span_id, cursor, depth + 1) + rng.randint(10, 80)
        end = cursor + rng.randint(50, 3000)
        tags = {"service.instance.id": spec.name}
        if trace == 5 and not spec.dependencies:
            tags["error"] = "timeout"
        span = {"traceId": trace_id, "id": span_id, "kind": "SERVER", "name": f"GET /{spec.service}",
                "timestamp": start, "duration": end - start, "tags": tags,
                "localEndpoint": {"serviceName": spec.service}}  # fmt: skip
        if parent:
            span["parentId"] = parent
        spans.append(span)
        return end

    call(root, "", int((T0 + 1 + trace * 0.45) * 1_000_000), 0)
