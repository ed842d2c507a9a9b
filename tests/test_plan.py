"""Expansion: the node set equals spigo's for every architecture, scale and region count."""

from __future__ import annotations

import ipaddress
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.catalog import architectures_dir, resolve_plan
from nanoservices.plan import RING_SIZE, DeploymentPlan, TokenRing, expand, planned_instance_count, ring_owner

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


Ring = tuple[tuple[str, int], ...]


def scanned_owner(ring: Ring, key: str) -> str:
    """The rule as written: the last member whose token is at or below the key's CRC-32, else the first."""
    point = zlib.crc32(key.encode())
    at_or_below = [name for name, token in ring if token <= point]
    return at_or_below[-1] if at_or_below else ring[0][0]


@st.composite
def rings_and_keys(draw: st.DrawFn) -> tuple[Ring, str]:
    """A ring as the plan makes them (sorted, first token 0), often with a token at or beside the key's."""
    key = draw(st.text(max_size=12))
    point = zlib.crc32(key.encode())
    near = draw(st.lists(st.sampled_from([point - 1, point, point + 1]), max_size=3))
    others = draw(st.lists(st.integers(1, RING_SIZE), max_size=200, unique=True))
    tokens = sorted({0, *others, *(t for t in near if 0 <= t <= RING_SIZE)})
    return tuple((f"m{i}", token) for i, token in enumerate(tokens)), key


@given(rings_and_keys())
def test_ring_owner_bisect_agrees_with_a_scan_of_the_ring(ring_and_key: tuple[Ring, str]) -> None:
    ring, key = ring_and_key
    expected = scanned_owner(ring, key)
    assert TokenRing.of(ring).owner(key) == expected
    assert ring_owner(ring, key) == expected


def test_planned_ring_owners_agree_with_a_scan_of_the_ring() -> None:
    plan = resolve_plan("netflixoss", 200, 2)
    rings = {spec.ring for spec in plan.instances if spec.ring}
    assert len(rings) == 6  # one per zone of each of the two regions
    keys = [f"key{i}" for i in range(300)]
    for ring in rings:
        owners = [TokenRing.of(ring).owner(k) for k in keys]
        assert owners == [scanned_owner(ring, k) for k in keys]
        assert set(owners) == {name for name, _ in ring}  # 300 keys reach every member of a small ring
