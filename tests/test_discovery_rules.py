"""The rule-based discovery oracle against spigo's own outputs and small hand-checkable plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.discovery_rules import expected_edges, expected_nodes
from nanoservices.geography import ANY
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.outputs.names import short_name
from nanoservices.packages.base import behaviour_for
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "spigo"
ARCHITECTURES = ROOT / "architectures"


def plan_of(services: list[dict[str, Any]], regions: int = 1, scale: int = 100) -> DeploymentPlan:
    text = json.dumps({"arch": "t", "version": "arch-0.0", "services": services})
    return expand(parse_architecture(text, "test", "t"), scale, regions)


def service(name: str, package: str, count: int, deps: list[str], regions: int = 1) -> dict[str, Any]:
    return {"name": name, "package": package, "count": count, "regions": regions, "dependencies": deps}


def specs(plan: DeploymentPlan, name: str) -> list[InstanceSpec]:
    return [s for s in plan.instances if s.service == name]


def targets_of(edges: set[tuple[str, str]], source: str) -> set[str]:
    return {t for s, t in edges if s == source}


@pytest.mark.parametrize("arch", ["lamp", "netflixoss"])
def test_oracle_reproduces_spigo_sample_exactly(arch: str) -> None:
    sample = read_graph_json(SAMPLES / f"{arch}.json")
    plan = expand(load_architecture(ARCHITECTURES / f"{arch}_arch.json"))
    assert expected_nodes(plan) == set(sample.nodes)
    assert expected_edges(plan) == sample.edges


def test_zone_local_karyon_sees_only_its_zone() -> None:
    plan = plan_of([service("db", "store", 3, []), service("api", "karyon", 6, ["db"])])
    edges = expected_edges(plan)
    db_by_zone = {s.zone: s.node for s in specs(plan, "db")}
    for api in specs(plan, "api"):
        assert targets_of(edges, api.node) == {db_by_zone[api.zone]}


def test_cross_zone_package_sees_every_zone_of_its_region() -> None:
    plan = plan_of([service("db", "store", 3, []), service("app", "staash", 3, ["db"])], regions=2)
    edges = expected_edges(plan)
    for app in specs(plan, "app"):
        same_region = {s.node for s in specs(plan, "db") if s.region == app.region}
        assert len(same_region) == 3
        assert targets_of(edges, app.node) == same_region


def test_elb_sees_its_region_only() -> None:
    plan = plan_of([service("api", "karyon", 3, []), service("lb", "elb", 0, ["api"])], regions=2)
    edges = expected_edges(plan)
    elbs = specs(plan, "lb")
    assert [e.zone for e in elbs] == [ANY, ANY] and len({e.region for e in elbs}) == 2
    for elb in elbs:
        assert elb.registry_scope == "region"
        assert targets_of(edges, elb.node) == {s.node for s in specs(plan, "api") if s.region == elb.region}


def test_denominator_sees_every_region() -> None:
    plan = plan_of(
        [
            service("api", "karyon", 3, []),
            service("lb", "elb", 0, ["api"]),
            service("dns", "denominator", 0, ["lb"], regions=0),
        ],
        regions=3,
    )
    (dns,) = specs(plan, "dns")
    assert dns.registry_scope == "all"
    assert targets_of(expected_edges(plan), dns.node) == {s.node for s in specs(plan, "lb")}


@pytest.mark.parametrize("cross_region", [True, False])
def test_eureka_dependency_reaches_other_regions(cross_region: bool) -> None:
    deps = ["ring", "eureka"] if cross_region else ["ring"]
    plan = plan_of([service("ring", "priamCassandra", 3, deps)], regions=2)
    edges = expected_edges(plan)
    ring = specs(plan, "ring")
    for member in ring:
        reachable = {s.node for s in ring if s is not member and (cross_region or s.region == member.region)}
        assert targets_of(edges, member.node) == reachable


def test_star_zone_never_matches_for_zone_local_packages() -> None:
    plan = plan_of(
        [
            service("api", "karyon", 0, []),  # one zone-'*' instance per region
            service("edge", "zuul", 0, ["api"]),
            service("proxy", "zuul", 3, ["api"]),
        ]
    )
    assert expected_edges(plan) == set()


def test_never_itself() -> None:
    plan = plan_of([service("ring", "priamCassandra", 1, ["ring"])])
    assert expected_edges(plan) == set()


def test_netflixoss_two_regions_crosses_regions_only_through_all_scope() -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), regions=2)
    by_node = {s.node: s for s in plan.instances}
    edges = expected_edges(plan)
    crossing = [(by_node[s], by_node[t]) for s, t in edges if by_node[s].region != by_node[t].region]
    assert crossing, "cassSubscriber depends on eureka, so its ring spans both regions"
    for source, target in crossing:
        # 'all' scope either polls every region (source) or registers in every region (target)
        assert "all" in (source.registry_scope, target.registry_scope), (source.node, target.node)
    assert {s.service for s, _ in crossing} == {"www", "cassSubscriber", "subscriber"}


def test_reduced_names_collapse_instances_and_may_self_loop() -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"))
    reduced = expected_edges(plan, short=lambda s: short_name(s.name, reduce=True))
    full = {s.node: s.name for s in plan.instances}
    collapsed = {
        (short_name(full[s], reduce=True), short_name(full[t], reduce=True)) for s, t in expected_edges(plan)
    }
    assert reduced == collapsed
    assert any(s == t for s, t in reduced)
    assert len(reduced) < len(expected_edges(plan))


def test_indexed_oracle_equals_naive_scan_on_a_larger_plan() -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), scale=300, regions=3)
    assert expected_edges(plan) == _naive_edges(plan)


def _naive_edges(plan: DeploymentPlan) -> set[tuple[str, str]]:
    """The rules of BEHAVIOUR.md 7 applied pair by pair, registry by registry (O(n^2))."""
    holds: dict[str, set[str]] = {r.name: set() for r in plan.registries}
    for spec in plan.instances:
        for registry in _polled(plan, spec):
            for peer in plan.registries:  # replication within the region
                if peer.region == registry.region:
                    holds[peer.name].add(spec.name)
    edges = set()
    for spec in plan.instances:
        seen = set().union(*(holds[r.name] for r in _polled(plan, spec)))
        for name in seen:
            target = plan.by_name[name]
            wanted = target.service in spec.dependencies and target.name != spec.name
            zone_ok = behaviour_for(spec.package).cross_zone or (
                spec.zone != ANY and spec.zone == target.zone
            )
            if wanted and zone_ok:
                edges.add((spec.node, target.node))
    return edges


def _polled(plan: DeploymentPlan, spec: InstanceSpec) -> list[Any]:
    if spec.registry_scope == "all":
        return list(plan.registries)
    if spec.registry_scope == "region":
        return [r for r in plan.registries if r.region == spec.region]
    return [r for r in plan.registries if (r.region, r.zone) == (spec.region, spec.zone)]
