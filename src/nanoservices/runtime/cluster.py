"""The port between the run core (runtime/core.py) and what runs the hosts: Ray actors
(runtime/ray_cluster.py) or HostCores in this process (runtime/local_cluster.py). Hosts are named by
their index in the order they were added; every method is what the run's sequence needs, so the
sequence itself is written once and runs under pytest without Ray."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.outputs.records import DoneRecord, ExitReason
from nanoservices.runtime.affected import Sample
from nanoservices.runtime.breaker_events import Transition
from nanoservices.runtime.host import HostSetup
from nanoservices.runtime.windows import Served


class Cluster(Protocol):
    kill_method: str  # how a lone host is killed, as the summary names it ("ray.kill", "in-process")

    # --- time: the run's clock and its waits (simulated in process) ---------------------------
    def now(self) -> float:
        """Seconds on the run's clock (wall time, or simulated)."""
        ...

    async def wait(self, seconds: float, until: asyncio.Event) -> bool:
        """Let `seconds` of run time pass, or less if `until` is set first; True when it was set."""
        ...

    # --- start-up -----------------------------------------------------------------------------
    def setups(self, setups: list[HostSetup]) -> list[HostSetup]:
        """The first hosts' setups as this cluster groups them (traffic source workers)."""
        ...

    async def create(self, setups: list[HostSetup]) -> None:
        """The registries, Edda and the hosts, wired; every instance registered."""
        ...

    async def discover(self) -> None: ...

    async def where(self) -> tuple[int, list[tuple[str, str]]]:
        """The hosts' memory in bytes, and per host its machine (node id, address)."""
        ...

    def watch(self, hosts: Sequence[int], died: Any) -> None:
        """Call `died(host, error_name)` (a coroutine function) when a host dies on its own."""
        ...

    async def start(
        self, hosts: Sequence[int], poll: float, run_started: float, duration: float | None
    ) -> None: ...

    async def add_hosts(self, setups: list[HostSetup], status: str, live: Sequence[int]) -> None:
        """A deploy's new group: spawned, wired, registered with `status`, announced to `live`
        hosts, discovering; not yet started."""
        ...

    # --- host operations ----------------------------------------------------------------------
    async def live(self, host: int, confirmed: int) -> tuple[dict[str, int], list[Transition]]: ...

    async def served(self, host: int, service: str, version: str, since: int) -> Served: ...

    async def stop_instance(self, host: int, name: str, reason: ExitReason) -> bool: ...

    async def stop_traffic(self, hosts: Sequence[int]) -> None: ...

    async def drain(self, hosts: Sequence[int], seconds: float) -> None: ...

    async def stop_all(self, hosts: Sequence[int], bound: float) -> list[object]:
        """Each host's final counts, or the error that stopped it from giving them."""
        ...

    async def freeze(self, host: int, bound: float) -> dict[str, object] | None: ...

    def kill(self, host: int) -> None: ...

    async def poll(self, hosts: Sequence[int]) -> None: ...

    async def set_profiles(self, host: int, profiles: Mapping[str, VersionBehaviour | None]) -> Sample | None:
        """None, or when this ends an incident on the host: what it did there (runtime/affected.py)."""
        ...

    async def set_partition(self, host: int, blocked: frozenset[int]) -> Sample | None: ...

    async def cut_links(
        self, blocked: Mapping[int, frozenset[int]], node_of: Mapping[int, str]
    ) -> tuple[Mapping[int, frozenset[int]], str]:
        """Partitions cut outside the hosts (a netns cluster's switch): what is left for the
        hosts, and how it was done ("" when nothing was cut outside)."""
        ...

    async def deliver_counted(
        self, host: int, source: int, batch: Any, duration: float
    ) -> tuple[int, float]: ...

    async def delivered_from(self, host: int, source: int) -> int: ...

    # --- registries and Edda ------------------------------------------------------------------
    async def deregister(self, registry: int, names: list[str]) -> None: ...

    async def set_status(self, registry: int, names: list[str], status: str) -> None: ...

    async def set_shares(self, registry: int, service: str, shares: dict[str, float]) -> None: ...

    async def lease_counts(self, bound: float) -> list[dict[str, Any] | None]: ...

    async def record(self, records: list[DoneRecord]) -> None: ...

    async def write_graph(self) -> dict[str, Any]:
        """Edda's graph files, and its counts."""
        ...

    # --- machines (cluster-mode Chaos Gorilla) --------------------------------------------------
    def zoned(self) -> bool:
        """Zones are machines (Ray nodes): losing a zone removes machines."""
        ...

    def protected_nodes(self) -> set[str]: ...

    async def remove_nodes(self, nodes: Sequence[str]) -> tuple[dict[str, str | None], list[int]]:
        """Per node None when it was removed, else why not; and the registries lost with them."""
        ...

    def off_network(self) -> bool:
        """Faults are cut in a network (netns cluster), not inside the hosts."""
        ...

    async def kill_all(self) -> None: ...
