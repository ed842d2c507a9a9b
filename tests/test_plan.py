"""Expansion: the node set equals spigo's for every architecture, scale and region count."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.catalog import architectures_dir, resolve_plan
from nanoservices.plan import DeploymentPlan, expand, planned_instance_count

ARCH_FILES = sorted(architectures_dir().glob("*_arch.json"))

# BEHAVIOUR.md 3.3: spigo's region and zone names, in order.
SPIGO_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2"]
SPIGO_ZONES = ["zoneA", "zoneB", "zoneC"]


def oracle(arch: str, services: list[dict[str, Any]], scale: int, regions: int) -> Iterator[tuple[str, str]]:
    """(full name, graph name) in creation order, straight from BEHAVIOUR.md 2.3 and 3.1."""

    def names(region: str, zone: str, service: dict[str, Any], index: int) -> tuple[str, str]:
        instance = f"{service['name']}{index:02d}"
        full = f"{arch}.{region}.{zone}..{instance}...{service['name']}.{service['package']}"
        return full, f"{arch}.{region}.{zone}.{instance}"

    for service in services:
        count = service["count"] * scale // 100
        if service.get("regions", 0) == 0:
            yield names("*", "*", service, 0)
        for r in range(service.get("regions", 0) * regions):
            if count == 0:
                yield names(SPIGO_REGIONS[r], "*", service, 0)
            for i in range(r * count, (r + 1) * count):
                yield names(SPIGO_REGIONS[r], SPIGO_ZONES[i % 3], service, i)


def sample_nodes(path: Path) -> set[str]:
    return {e["node"] for e in json.loads(path.read_text())["graph"] if "node" in e}


def sample_ips(path: Path) -> Counter[str]:
    return Counter(
        e["metadata"].removeprefix("IP/") for e in json.loads(path.read_text())["graph"] if "node" in e
    )


@pytest.mark.parametrize("path", ARCH_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("regions", [1, 2, 3])
@pytest.mark.parametrize("scale", [1, 10, 50, 100, 150, 1000])
def test_node_set_equals_spigos_rules(path: Path, scale: int, regions: int) -> None:
    architecture = load_architecture(path)
    plan = expand(architecture, scale, regions)
    expected = list(oracle(architecture.name, json.loads(path.read_text())["services"], scale, regions))
    assert [(s.name, s.node) for s in plan.instances] == expected
    assert planned_instance_count(architecture, scale, regions) == len(expected)


@pytest.mark.parametrize("arch", ["netflixoss", "lamp"])
def test_node_names_equal_spigos_sample_graph(spigo_data: Path, arch: str) -> None:
    plan = resolve_plan(arch)
    nodes = sample_nodes(spigo_data / f"{arch}.json")
    assert {s.node for s in plan.instances} == nodes
    assert len(plan.instances) == len(nodes)  # and no name is planned twice


@pytest.mark.parametrize("arch", ["netflixoss", "lamp"])
def test_addresses_are_spigos_per_zone_counters(spigo_data: Path, arch: str) -> None:
    # spigo numbers addresses in the order edda logs nodes, which races; the multiset is fixed.
    assert Counter(s.ip for s in resolve_plan(arch).instances) == sample_ips(spigo_data / f"{arch}.json")


def test_spigo_measured_counts() -> None:
    assert len(resolve_plan("netflixoss", 1000, 3).instances) == 1894  # the figure
    assert len(resolve_plan("netflixoss", 50).instances) == 33  # BEHAVIOUR.md 2.3, measured


def test_rounding_down_to_zero_gives_one_cross_zone_instance() -> None:
    plan = resolve_plan("netflixoss", 10)  # evcacheSubscriber: 3 * 10 // 100 == 0
    evcache = [s for s in plan.instances if s.service == "evcacheSubscriber"]
    assert [(s.region, s.zone, s.node) for s in evcache] == [
        ("us-east-1", "*", "netflixoss.us-east-1.*.evcacheSubscriber00")
    ]


def tiny(count: int, regions: int = 1, package: str = "store") -> DeploymentPlan:
    doc = {"services": [{"name": "s", "package": package, "count": count, "regions": 1}]}
    return expand(parse_architecture(json.dumps(doc), "t", "t"), 100, regions)


def test_zone_rotation_continues_across_regions() -> None:
    # BEHAVIOUR.md 2.3: count 4 in region 1 holds indexes 04-07 in zones B, C, A, B.
    second = [
        (s.node.split(".")[-1], s.zone) for s in tiny(4, regions=2).instances if s.region == "us-west-2"
    ]
    assert second == [("s04", "zoneB"), ("s05", "zoneC"), ("s06", "zoneA"), ("s07", "zoneB")]


def test_extra_instances_land_in_zone_a_then_b() -> None:
    assert Counter(s.zone for s in tiny(5).instances) == {"zoneA": 2, "zoneB": 2, "zoneC": 1}


def test_indexes_past_99_grow() -> None:
    assert tiny(101).instances[-1].node == "t.us-east-1.zoneB.s100"  # 100 % 3 == 1


def test_global_and_cross_zone_instances() -> None:
    plan = resolve_plan("lamp", 100, 2)
    www = [s for s in plan.instances if s.service == "www"]
    elbs = [s for s in plan.instances if s.package == "elb"]
    assert [(s.region, s.zone, s.registry_scope) for s in www] == [("*", "*", "all")]
    assert [(s.region, s.zone, s.registry_scope) for s in elbs] == [
        ("us-east-1", "*", "region"),
        ("us-west-2", "*", "region"),
    ]


@pytest.mark.parametrize("path", ARCH_FILES, ids=lambda p: p.stem)
def test_addresses_are_valid_and_unique_in_all_six_spigo_regions(path: Path) -> None:
    plan = expand(load_architecture(path), 300, 6)
    addresses = [ipaddress.IPv4Address(s.ip) for s in plan.instances]  # raises on 54.288.x.x
    assert len(set(addresses)) == len(addresses)


def test_first_address_per_zone_is_dot_0_dot_1_and_eu_west_1c_is_fixed() -> None:
    plan = tiny(3, regions=3)
    assert [s.ip for s in plan.instances if s.region == "eu-west-1"] == [
        "54.247.0.1",
        "54.246.0.1",
        "54.228.0.1",
    ]


def test_regions_beyond_spigos_six_get_further_names() -> None:
    plan = tiny(3, regions=8)
    assert [s.region for s in plan.instances][::3][:6] == SPIGO_REGIONS
    assert len({s.region for s in plan.instances}) == 8


def test_registries_cover_every_zone_of_every_region_used() -> None:
    plan = resolve_plan("netflixoss", 100, 2)
    spanned = {(s.region, s.zone) for s in plan.instances if s.zone != "*"}
    assert set(plan.zones()) == spanned
    assert len(plan.registries) == 6


def test_priam_cassandra_rings_are_per_region_and_zone() -> None:
    plan = resolve_plan("netflixoss", 200, 2)
    for spec in (s for s in plan.instances if s.package == "priamCassandra"):
        members = {name for name, _ in spec.ring}
        expected = {
            s.name for s in plan.instances if s.service == spec.service and s.location == spec.location
        }
        assert members == expected


def test_dependencies_and_victim_carry_over() -> None:
    plan = resolve_plan("netflixoss")
    subscriber = next(s for s in plan.instances if s.service == "subscriber")
    cass = next(s for s in plan.instances if s.service == "cassSubscriber")
    assert subscriber.dependencies == ("cassSubscriber", "evcacheSubscriber")
    assert (cass.dependencies, cass.cross_region) == (("cassSubscriber",), True)
    assert plan.victim == "homepage"
    assert plan.root is not None and plan.root.service == "www"
