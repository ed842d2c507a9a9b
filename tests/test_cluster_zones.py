"""Cluster mode: zones map onto Ray nodes. A three-zone cluster on this machine
(`ray.cluster_utils.Cluster`, loopback) runs the CLI with --address; every host of a zone must run
on that zone's node. Also: the shipped `ray up` files pass Ray's own schema, offline."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nanoservices.runtime.zones import region_resource, zone_resource
from support.clusters import ZonedCluster, alive_once_settled
from support.events import timeline_events

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "nanoservices")
ZONES = ("zoneA", "zoneB", "zoneC")


@pytest.fixture(scope="module")
def zoned_cluster() -> Iterator[tuple[str, dict[str, str]]]:
    """Head plus one node per us-east-1 zone; yields the address and node id -> zone resource."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        zone_of_node = {}
        for zone in ZONES:
            key = zone_resource("us-east-1", zone)
            node = cluster.add_node(num_cpus=1, resources={key: 1000, region_resource("us-east-1"): 1000})
            zone_of_node[node.node_id] = key
        cluster.wait_for_nodes()
        yield cluster.address, zone_of_node
    finally:
        cluster.shutdown()


def run_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "run", *args, "--address", address], capture_output=True, text=True, timeout=300, check=False
    )


def test_hosts_run_on_their_zones_node(
    zoned_cluster: tuple[str, dict[str, str]], tmp_path: Path, tiny_arch: Path
) -> None:
    address, zone_of_node = zoned_cluster
    result = run_cli(address, str(tiny_arch), "-d", "1", "-K", "100", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accounted"]
    workers = {row["host"]: row["node"] for row in summary["sources"]}
    placed = {row["location"]: row["node"] for row in summary["placement"] if row["host"] not in workers}
    for zone in ZONES:
        assert zone_of_node[placed[f"us-east-1/{zone}"]] == zone_resource("us-east-1", zone)
    # The cross-zone elb belongs to no zone: beside the supervisor, on the head (no zone node), so
    # no gorilla takes the region's elb away. The denominator's traffic comes from a source worker
    # on every node (runtime/sources.py), the first (worker 0, in Eureka) on the head.
    assert placed["us-east-1/*"] not in zone_of_node
    assert len(workers) == 4 and set(workers.values()) > set(zone_of_node)
    assert summary["sources"][0]["node"] not in zone_of_node


def test_a_plan_needing_zones_the_cluster_lacks_is_refused(
    zoned_cluster: tuple[str, dict[str, str]], tmp_path: Path, tiny_arch: Path
) -> None:
    address, _ = zoned_cluster
    result = run_cli(address, str(tiny_arch), "-d", "1", "-w", "2", "--out", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "zone:us-west-2a" in lines[-1] and "Traceback" not in result.stderr


@pytest.mark.parametrize("path", sorted((REPO / "cluster").glob("*.yaml")), ids=lambda p: p.name)
def test_cluster_files_pass_rays_schema(path: Path) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(copy.deepcopy(yaml.safe_load(path.read_text())))
    validate_config(config)
    zones = [t["resources"] for name, t in config["available_node_types"].items() if name.startswith("zone-")]
    assert zones and all(any(k.startswith("zone:") for k in r) for r in zones)


@pytest.fixture
def losable_cluster() -> Iterator[tuple[object, dict[str, str]]]:
    """A cluster of its own (a test removes one of its nodes)."""
    zoned = ZonedCluster()
    try:
        yield zoned.cluster, zoned.zone_of_node
    finally:
        zoned.shutdown()


@pytest.mark.heavy
def test_a_gorilla_in_cluster_mode_removes_the_zones_node_and_its_hosts_die_with_it(
    losable_cluster: tuple[object, dict[str, str]], tmp_path: Path, tiny_arch: Path
) -> None:
    """The zone's machine goes: its raylet is killed and every process on it (the zone's hosts,
    any other host placed there, its Eureka server) with it. Nothing is frozen first, so those
    hosts' counts die with them (unchecked), and the run still ends in order."""
    from nanoservices.architecture import load_architecture
    from nanoservices.outputs.graph_json import read_graph_json
    from nanoservices.plan import expand

    cluster, zone_of_node = losable_cluster
    address = cluster.address  # type: ignore[attr-defined]
    zone_b_node = next(n for n, key in zone_of_node.items() if key == zone_resource("us-east-1", "zoneB"))
    scenario = tmp_path / "gorilla.yaml"
    scenario.write_text("timeline:\n  - at: 2s\n    gorilla: us-east-1/zoneB\n")
    out = tmp_path / "run"
    args = (str(tiny_arch), "-d", "6", "-K", "100", "-u", "0.25", "--scenario", str(scenario))
    args = (*args, "--out", str(out))
    result = run_cli(address, *args)
    assert result.returncode == 0, result.stderr
    alive = alive_once_settled(address, zone_b_node)
    assert alive == {node: node != zone_b_node for node in alive} and len(alive) == 4

    summary = json.loads((out / "summary.json").read_text())
    assert summary["accounted"], summary["accounting_problems"]
    # A source worker there is the load's harness, not the zone's: counted before the machine goes.
    harness = {row["host"] for row in summary["sources"] if row["node"] == zone_b_node}
    assert len(harness) == 1
    on_b = sorted(
        r["host"] for r in summary["placement"] if r["node"] == zone_b_node and r["host"] not in harness
    )
    assert on_b and summary["unchecked_hosts"] == on_b
    gorilla, effects = timeline_events(out)
    assert effects["kind"] == "chaos-effects" and effects["of"] == "gorilla"  # at the run's end
    assert gorilla["kind"] == "gorilla" and gorilla["nodes"] == [zone_b_node]
    assert gorilla["method"] == (
        f"raylet of node {zone_b_node} killed, every process on it with it"
        " (cluster mode: no freeze, counts die with the hosts)"
    )
    assert gorilla["lost_hosts"] == on_b and gorilla["hosts"] == len(on_b) == gorilla["counts_lost"]
    plan = expand(load_architecture(tiny_arch))
    zone_b = {s.name for s in plan.instances if s.location == ("us-east-1", "zoneB")}
    on_b_instances = sum(
        row["instances"] for row in summary["placement"] if row["node"] == zone_b_node and row["host"] in on_b
    )
    assert zone_b <= set(gorilla["instances"]) and len(gorilla["instances"]) == on_b_instances
    graph = read_graph_json(out / "graph.json")
    node_of = {s.name: s.node for s in plan.instances}
    lost = {node_of[name] for name in gorilla["instances"]}
    assert {n: graph.done[n] for n in lost} == dict.fromkeys(lost, "chaos")
