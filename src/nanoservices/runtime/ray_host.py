"""The Ray actor around HostCore, and its Peers: Ray calls for the control plane (Eureka, Edda),
direct sockets between hosts for the data plane (or Ray calls, with --transport ray)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import ray

from nanoservices.outputs.record_rows import pack_records
from nanoservices.outputs.records import ExitReason, GraphRecord
from nanoservices.registry import UP
from nanoservices.runtime.affected import Sample
from nanoservices.runtime.breaker_events import Transition
from nanoservices.runtime.bulk import paused_gc, settle
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.live import LiveCounts, span_counts
from nanoservices.runtime.transport import REFUSALS, SocketTransport
from nanoservices.runtime.windows import Served

Address = tuple[str, int]


class RayPeers:
    def __init__(
        self, hosts: Sequence[Any], registries: Sequence[Any], edda: Any, transport: SocketTransport | None
    ) -> None:
        self.hosts = hosts
        self._registries = registries
        self._edda = edda
        if transport is not None:
            self.deliver = lambda _source, host, data: transport.deliver(host, data)  # type: ignore[method-assign]

    def deliver(self, source: int, host: int, data: bytes) -> Any:
        return self.hosts[host].deliver.remote(source, data)

    def register(self, registry: int, entries: list[tuple[str, str, int]]) -> Any:
        return self._registries[registry].register.remote(entries)

    def deregister(self, registry: int, names: list[str]) -> Any:
        return self._registries[registry].deregister.remote(names)

    def renew(self, registry: int, names: list[str], lease: float) -> Any:
        return self._registries[registry].renew.remote(names, lease)

    def poll(self, registry: int, services: list[str], since: int, wait: float = 0.0) -> Any:
        return self._registries[registry].poll.remote(services, since, wait)

    def record(self, records: list[GraphRecord]) -> Any:
        with paused_gc():  # one blob, not an object per record
            data = pack_records(records)
        return self._edda.record.remote(data)


@ray.remote(num_cpus=0, enable_task_events=False)
class Host:
    """One Ray actor (one worker process) running one or more simulated instances of one zone."""

    def __init__(self, setup: HostSetup, tracing_settings: Any = None) -> None:
        self._tracing = None
        if tracing_settings is not None:
            from nanoservices.tracing import HostTracing

            self._tracing = HostTracing(tracing_settings, host_label=f"host-{setup.index}")
        self.core = HostCore(setup, tracing=self._tracing)
        self._transport: SocketTransport | None = None
        self._stopped = asyncio.Event()

    async def join(
        self, wiring: tuple[dict[str, int], list[Any], list[Any], Any], token: bytes | None, status: str = UP
    ) -> Address | None:
        """Listen for the other hosts (given the run's token: socket data plane), wire to the
        registries and Edda, register every instance, and return the address the other hosts
        send to. One call, so the host that comes up last costs the run a single round trip."""
        placement, hosts, registries, edda = wiring
        address = None
        if token is not None:
            ip = ray.util.get_node_ip_address()
            self._transport = SocketTransport(self.core.index, token, self.core.deliver, ip)
            address = await self._transport.start()
        self._peers = RayPeers(hosts, registries, edda, self._transport)
        self.core.wire(dict(placement), self._peers)
        await self.core.register_all(status)
        self.core.start_renewals()  # from now on: a slow start-up must not let its leases expire
        settle()  # its instances live for the whole run: later collections need not walk them
        return address

    def grow(self, placement: dict[str, int], hosts: list[Any], addresses: dict[int, Address] | None) -> None:
        """Hosts a deploy added: where their instances run, their handles and addresses."""
        self.core.placement.update(placement)
        self._peers.hosts = hosts
        self.update_peers(addresses)

    async def discover(self, addresses: dict[int, Address] | None) -> None:
        """Learn where the other hosts listen, poll Eureka once, and connect to the hosts of the
        instances this host's instances will call."""
        self.update_peers(addresses)
        await self.core.poll_once()
        if self._transport is not None:
            await self._transport.connect(self.core.hosts_called())

    def update_peers(self, addresses: dict[int, Address] | None) -> None:
        """The run's hosts and their addresses: hosts join (and leave) during a run."""
        if addresses is not None and self._transport is not None:
            self._transport.update_peers(addresses)

    async def deliver(self, source: int, data: bytes) -> None:
        """Batches over Ray: the supervisor's, and every host's with --transport ray."""
        self.core.deliver(source, data)

    async def deliver_counted(self, source: int, data: bytes, duration: float = -1.0) -> tuple[int, float]:
        """deliver(), then how many messages from `source` this host has handed to its instances
        (the supervisor's count of what arrived, not an assumption that the call means it did)
        and when the last was handed over (epoch seconds): the reply itself waits for what the
        delivery set off, such as 50,000 pirates starting their chat tickers. With `duration` 0
        (-d 0) the run ends with the opening moves: the pirates stop here, before their first
        chat, rather than when the supervisor's stop_traffic gets through to a busy host."""
        with paused_gc():
            self.core.deliver(source, data)
        if duration == 0:
            self.core.stop_traffic()
        return self.core.stats.hop_received.get(source, 0), time.time()

    def delivered_from(self, source: int) -> int:
        return self.core.stats.hop_received.get(source, 0)

    async def poll_once(self) -> None:
        await self.core.poll_once()

    async def start(
        self, poll_interval: float, started_at: float | None = None, stop_after: float | None = None
    ) -> None:
        """Start every instance; a traffic source's host given `stop_after` (-d) stops its traffic
        then by itself: the run ends at -d even when the supervisor is held up (a deploy spawning
        processes on a busy machine held it 3 s)."""
        self.core.start_instances(poll_interval, started_at=started_at)
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, self.core.stop_traffic)

    async def stop_traffic(self) -> None:
        self.core.stop_traffic()

    async def drain(self, timeout: float) -> int:
        """Wait (bounded) for requests already issued to finish; returns how many are still out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.core.traffic_pending() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self.core.traffic_pending()

    async def stop_instance(self, name: str, reason: ExitReason) -> bool:
        return await self.core.stop_instance(name, reason)

    async def freeze(self, flush_timeout: float) -> dict[str, object]:
        """Before chaos monkey's ray.kill: go silent, flush spans (bounded), return the counts that
        would otherwise die with the process."""
        stats = self.core.freeze()
        return await self._final_counts(stats, flush_timeout)

    async def _final_counts(self, stats: dict[str, object], flush_timeout: float) -> dict[str, object]:
        if self._transport is not None:
            counters = self._transport.counters
            stats["refused"] = {k: counters[k] for k in REFUSALS}
        if self._tracing is not None:
            tracing = self._tracing
            stats["spans"] = await asyncio.get_running_loop().run_in_executor(
                None, tracing.shutdown, flush_timeout
            )
            stats["flow_part"] = tracing.flow_part()
        return stats

    async def stop_all(self, flush_timeout: float) -> dict[str, object]:
        """Stop every instance, flush spans within the bound, hand back counters and flow files."""
        stats = await self._final_counts(await self.core.stop_all(), flush_timeout)
        self._stopped.set()
        return stats

    async def serve(self) -> None:
        """Returns when the host stops; the supervisor watches it to notice a host that dies."""
        await self._stopped.wait()

    def set_profiles(self, profiles: dict[str, Any]) -> Sample | None:
        """Latency and error incidents: how these instances serve from now on (VersionBehaviour or
        None); what an incident it ends did here (runtime/affected.py)."""
        return self.core.set_profiles(profiles)

    def set_partition(self, blocked: frozenset[int]) -> Sample | None:
        """The hosts a network partition cuts this one off from (empty: healed, and what it did)."""
        return self.core.set_partition(blocked)

    def served(self, service: str, version: str, since: int) -> Served:
        """What this host's instances of service@version answered from second `since` on."""
        return self.core.served(service, version, since)

    def live(self, breakers_confirmed: int = 0) -> tuple[LiveCounts, list[Transition]]:
        """Requests and span exports so far, and the breaker transitions after the last one the
        supervisor recorded: the supervisor's live() asks about once a second."""
        counts = self.core.live_counts()
        if self._tracing is not None:
            counts.update(span_counts(self._tracing.so_far()))
        return counts, self.core.breaker_transitions(breakers_confirmed)

    def address(self) -> Address | None:
        """Where this host listens for the other hosts' batches (None over --transport ray)."""
        return self._transport.address if self._transport is not None else None

    def instance_count(self) -> int:
        return len(self.core.instances)

    def where(self) -> tuple[int, str]:
        """This process's memory (proportional set size, bytes) and the Ray node it runs on."""
        return process_memory(), ray.get_runtime_context().get_node_id()


def process_memory() -> int:
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
