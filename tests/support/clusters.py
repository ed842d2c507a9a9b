"""A Ray cluster on this machine whose nodes are the zones (`ray.cluster_utils.Cluster`, loopback),
for tests in which a Chaos Gorilla removes a zone's node: the head carries no zone, so every
zone node can go, and Ray notices a dead node in seconds instead of ~15."""

from __future__ import annotations

from typing import Any

from nanoservices.runtime.zones import region_resource, zone_resource

# Ray marks a node dead after health_check_failure_threshold missed checks, one every
# health_check_period_ms (defaults 5 x 3 s, ~15 s measured): 3 x 1 s makes it ~4 s.
FAST_DEATH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}
REGION = "us-east-1"
ZONES = ("zoneA", "zoneB", "zoneC")


class ZonedCluster:
    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        head = {"num_cpus": 1, "include_dashboard": False, "_system_config": FAST_DEATH}
        self.cluster: Any = Cluster(initialize_head=True, head_node_args=head)
        self.zone_of_node: dict[str, str] = {}  # node id -> zone resource
        self._nodes: dict[str, Any] = {}  # node id -> cluster_utils node
        for zone in ZONES:
            self.add(zone)
        self.cluster.wait_for_nodes()

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add(self, zone: str) -> str:
        """A new machine for the zone (after a gorilla took the last one); its node id."""
        key = zone_resource(REGION, zone)
        node = self.cluster.add_node(num_cpus=1, resources={key: 1000, region_resource(REGION): 1000})
        self.zone_of_node[node.node_id] = key
        self._nodes[str(node.node_id)] = node
        return str(node.node_id)

    def forget(self, node_id: str) -> None:
        """A node a gorilla removed leaves the cluster's books too (else wait_for_nodes waits for it)."""
        self.cluster.remove_node(self._nodes.pop(node_id), allow_graceful=False)

    def node_of(self, zone: str) -> str:
        """The zone's newest node."""
        key = zone_resource(REGION, zone)
        return [node for node, k in self.zone_of_node.items() if k == key][-1]

    def shutdown(self) -> None:
        self.cluster.shutdown()


_ALIVE = """
import json, sys, time
import ray
address, gone, within = sys.argv[1], sys.argv[2], float(sys.argv[3])
ray.init(address=address, log_to_driver=False, logging_level="ERROR")
try:
    deadline = time.monotonic() + within
    while True:
        alive = {str(n["NodeID"]): bool(n["Alive"]) for n in ray.nodes()}
        if not alive[gone] or time.monotonic() > deadline:
            break
        time.sleep(0.25)
finally:
    ray.shutdown()
print(json.dumps(alive))
"""


def alive_once_settled(address: str, gone: str, within: float = 60.0) -> dict[str, bool]:
    """Every node's Alive flag once Ray has marked `gone` dead (polled; at most `within` s). In a
    process of its own: the test's may already be connected to another Ray (one per process)."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _ALIVE, address, gone, str(within)],
        capture_output=True,
        text=True,
        timeout=within + 60,
        check=True,
    )
    return {str(k): bool(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
