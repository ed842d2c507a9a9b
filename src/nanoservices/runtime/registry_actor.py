"""Eureka servers as Ray actors: one per zone, replicating to the other zones of the region.

Heartbeats replicate like registrations do; eviction does not: every server runs its own
eviction timer, started by the first heartbeat, which says how long a lease lasts."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from nanoservices.registry import Change, Entry, EvictionTimer, RegistryState, Shares, lease_counts

# Every host keeps a poll waiting here (runtime/host.py `_watch_registry`): room for them and the
# registrations, heartbeats and replication calls that must never queue behind them.
MAX_CONCURRENCY = 10_000


@ray.remote(num_cpus=0, enable_task_events=False, max_concurrency=MAX_CONCURRENCY)
class Registry:
    def __init__(self, name: str) -> None:
        self.state = RegistryState(name)
        self._peers: list[Any] = []
        self._timer: EvictionTimer | None = None
        self._eviction: asyncio.Task[None] | None = None  # runs the timer's rounds
        self._changed = asyncio.Event()  # set (and replaced) whenever the table changes
        self._waiting = 0  # polls waiting on it
        self.state.on_change = self._announce

    def wire(self, peers: list[Any]) -> None:
        self._peers = peers

    def node(self) -> str:
        """The Ray node this server runs on (a zone's machine in cluster mode)."""
        return ray.get_runtime_context().get_node_id()

    async def _replicate(self, method: str, *args: object) -> None:
        """Best effort, as Eureka's peer replication: a peer gone with its zone misses the copy."""
        if self._peers:
            await asyncio.gather(
                *(getattr(peer, method).remote(*args) for peer in self._peers), return_exceptions=True
            )

    async def register(self, entries: list[Entry]) -> int:
        changed = self.state.register(entries)
        if changed:
            await self._replicate("replicate_register", changed)
        return len(changed)

    async def replicate_register(self, entries: list[Entry]) -> None:
        self.state.register(entries)

    async def deregister(self, names: list[str]) -> int:
        changed = self.state.deregister(names)
        if changed:
            await self._replicate("replicate_deregister", changed)
        return len(changed)

    async def replicate_deregister(self, names: list[str]) -> None:
        self.state.deregister(names)

    async def renew(self, names: list[str], lease: float) -> int:
        """A host's heartbeat for its instances. Copies to the region's other servers go in bulk
        once per renewal period (a lease lasts three), not one call per heartbeat per peer: at one
        actor per instance those calls were most of the registries' work."""
        timer = self._start_eviction(lease)
        renewed = self.state.renew(names, lease)
        if self._peers:
            timer.heard(names)
        return renewed

    async def replicate_renew(self, names: list[str], lease: float) -> None:
        self._start_eviction(lease)
        self.state.renew(names, lease)

    def _start_eviction(self, lease: float) -> EvictionTimer:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = EvictionTimer(self.state, lease, loop.time())
            self._eviction = loop.create_task(self._evict_every(self._timer))
        return self._timer

    async def _evict_every(self, timer: EvictionTimer) -> None:
        """Runs the eviction timer's rounds (registry.EvictionTimer) on the event loop's clock."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(timer.wait(loop.time()))
            forward, _ = timer.fire(loop.time())
            if forward and self._peers:
                await asyncio.gather(
                    *(peer.replicate_renew.remote(forward, timer.lease) for peer in self._peers),
                    return_exceptions=True,
                )

    def lease_counts(self) -> dict[str, object]:
        """What this server's eviction timer did (registry.lease_counts), for the run summary."""
        return lease_counts(self.state)

    async def set_status(self, names: list[str], status: str) -> int:
        changed = self.state.set_status(names, status)
        if changed:
            await self._replicate("replicate_status", changed, status)
        return len(changed)

    async def replicate_status(self, names: list[str], status: str) -> None:
        self.state.set_status(names, status)

    async def set_shares(self, service: str, shares: Shares) -> None:
        if self.state.set_shares(service, shares):
            await self._replicate("replicate_shares", service, shares)

    async def replicate_shares(self, service: str, shares: Shares) -> None:
        self.state.set_shares(service, shares)

    async def poll(
        self, services: list[str], since: int, wait: float = 0.0
    ) -> tuple[int, list[Change], dict[str, Shares]]:
        """What changed for these services after stamp `since`; with nothing, wait up to `wait`
        seconds for a change (a long poll: a quiet registry is not asked again and again)."""
        answer = self.state.poll(services, since)
        if wait <= 0 or answer[1] or answer[2]:
            return answer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (remaining := deadline - loop.time()) > 0:
            self._waiting += 1
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break
            finally:
                self._waiting -= 1
            answer = self.state.poll(services, since)
            if answer[1] or answer[2]:
                return answer
        return self.state.poll(services, since)

    def _announce(self) -> None:
        """Wake the waiting polls: the table changed (a registration of 1,000 is 1,000 changes,
        so a new event only when a poll waits on the old one)."""
        if self._waiting:
            self._changed.set()
            self._changed = asyncio.Event()

    def online_count(self) -> int:
        return self.state.online_count()
