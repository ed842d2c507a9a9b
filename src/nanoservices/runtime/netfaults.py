"""Faults as machines have them, on the network-namespace cluster `cluster/netns.py` makes: every Ray
node is a namespace with its own address behind one user-space switch (cluster/switch.py), which
runs as root in the root namespace and takes commands on a Unix socket. Here:

- a Chaos Gorilla takes the zone's machine off the network at the switch (its frames dropped both
  ways, without a word), then SIGKILLs every process in its namespace: peers see timeouts, never a
  reset, and Ray learns of it by missed health checks, as of a machine that lost power;
- a `partition` cuts the links between the two sides' machines at the switch for its window. Host
  pairs no link separates (hosts on the head, which every zone needs for Ray itself, or on one
  machine) are cut in the senders, as in laptop mode.

The run knows it is on such a cluster when the description file `netns.py up` wrote names every
Ray node's address (a stale file never matches a laptop's 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STATE_DIR = Path("/run/nanoservices-netns")  # tmpfs: it lives as long as the namespaces it describes
DESCRIPTION = STATE_DIR / "cluster.json"
SOCKET = STATE_DIR / "switch.sock"
ANSWER_BOUND = 10.0  # seconds for the switch to answer a command (it answers in milliseconds)


class NetFault(RuntimeError):
    """The switch refused or could not be reached."""


def ask(request: Mapping[str, object], path: Path = SOCKET) -> dict[str, Any]:
    """One command to the switch, its answer (blocking: for the CLI and tests)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(ANSWER_BOUND)
        conn.connect(str(path))
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return dict(json.loads(answer))


async def ask_async(request: Mapping[str, object], path: Path = SOCKET) -> dict[str, Any]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), ANSWER_BOUND)
        writer.write(json.dumps(request).encode() + b"\n")
        line = await asyncio.wait_for(reader.readline(), ANSWER_BOUND)
        writer.close()
    except (OSError, asyncio.TimeoutError) as error:
        raise NetFault(f"the cluster's switch at {path} did not answer: {error!r}") from None
    answer = dict(json.loads(line))
    if not answer.get("ok"):
        raise NetFault(f"the switch refused {request.get('op')}: {answer.get('error')}")
    return answer


def description(node_ips: Iterable[str], path: Path = DESCRIPTION) -> dict[str, Any] | None:
    """The cluster's description when every node of this Ray cluster is one of its machines."""
    try:
        spec = dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
    ips = set(node_ips)
    machines = {str(m["ip"]) for m in spec.get("machines", [])}
    return spec if ips and ips <= machines else None


def ray_node_ips() -> dict[str, str]:
    """Node id -> address of every node Ray knows (alive or not)."""
    import ray

    return {str(n["NodeID"]): str(n["NodeManagerAddress"]) for n in ray.nodes()}


_cluster: dict[str, Any] | bool | None = False  # False: not looked yet (per process; a run is one cluster)


def cluster() -> dict[str, Any] | None:
    """This process's Ray cluster's description if it is a netns cluster, else None (cached)."""
    global _cluster
    if _cluster is False:
        _cluster = description(ray_node_ips().values())
    return _cluster  # type: ignore[return-value]


async def take_off_network(nodes: Iterable[str]) -> dict[str, str | None]:
    """Chaos Gorilla on a netns cluster: per node None once its machine is off the network and its
    processes killed, else why not."""
    ips = ray_node_ips()
    outcomes: dict[str, str | None] = {}
    for node in nodes:
        ip = ips.get(node)
        if ip is None:
            outcomes[node] = "Ray does not know the node's address"
            continue
        try:
            await ask_async({"op": "isolate", "ips": [ip], "kill": True})
            outcomes[node] = None
        except NetFault as error:
            outcomes[node] = str(error)
    return outcomes


# --- partitions ------------------------------------------------------------------------------------
_links_cut: set[frozenset[str]] = set()  # address pairs this process has cut at the switch


def link_cuts(
    blocked: Mapping[int, frozenset[int]], ip_of_host: Mapping[int, str], shared: set[str]
) -> tuple[set[frozenset[str]], dict[int, frozenset[int]]]:
    """The address pairs to cut at the switch, and per host what is left to cut in the senders:
    pairs on one machine, or with a machine every zone needs (`shared`: the head's address)."""
    links: set[frozenset[str]] = set()
    residual: dict[int, frozenset[int]] = {}
    for host, others in blocked.items():
        left = set()
        mine = ip_of_host.get(host, "")
        for other in others:
            theirs = ip_of_host.get(other, "")
            if mine and theirs and mine != theirs and mine not in shared and theirs not in shared:
                links.add(frozenset((mine, theirs)))
            else:
                left.add(other)
        residual[host] = frozenset(left)
    return links, residual


async def set_links(wanted: set[frozenset[str]]) -> str:
    """Cut what `wanted` adds, heal what it drops; the event's method."""
    cut, heal = wanted - _links_cut, _links_cut - wanted
    if cut:
        await ask_async({"op": "cut", "pairs": [sorted(pair) for pair in cut]})
    if heal:
        await ask_async({"op": "heal", "pairs": [sorted(pair) for pair in heal]})
    _links_cut.difference_update(heal)
    _links_cut.update(cut)
    if not wanted:
        return "every link healed at the switch; host pairs on one machine or the head healed in the senders"
    pairs = "; ".join(" <-> ".join(sorted(pair)) for pair in sorted(wanted, key=sorted))
    return (
        f"links cut at the switch (frames dropped both ways, callers time out): {pairs}; host pairs on one"
        " machine or on the head cut in the senders"
    )


async def set_partitions(
    blocked: Mapping[int, frozenset[int]], node_of: Mapping[int, str], spec: Mapping[str, Any]
) -> tuple[dict[int, frozenset[int]], str]:
    """The links to cut for these partitions (and those to heal); what the senders still cut, and how."""
    ips = ray_node_ips()
    ip_of_host = {host: ips.get(node, "") for host, node in node_of.items()}
    shared = {str(m["ip"]) for m in spec.get("machines", []) if m.get("name") == "head"}
    links, residual = link_cuts(blocked, ip_of_host, shared)
    return residual, await set_links(links)
