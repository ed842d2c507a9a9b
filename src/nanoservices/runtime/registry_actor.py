"""Eureka servers as Ray actors: one per zone, replicating to the other zones of the region."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from nanoservices.registry import Change, RegistryState


@ray.remote(num_cpus=0)
class Registry:
    def __init__(self, name: str) -> None:
        self.state = RegistryState(name)
        self._peers: list[Any] = []

    def wire(self, peers: list[Any]) -> None:
        self._peers = peers

    async def register(self, entries: list[tuple[str, str, int]]) -> int:
        changed = self.state.register(entries)
        if changed and self._peers:
            await asyncio.gather(*(peer.replicate_register.remote(changed) for peer in self._peers))
        return len(changed)

    def replicate_register(self, entries: list[tuple[str, str, int]]) -> None:
        self.state.register(entries)

    async def deregister(self, names: list[str]) -> int:
        changed = self.state.deregister(names)
        if changed and self._peers:
            await asyncio.gather(*(peer.replicate_deregister.remote(changed) for peer in self._peers))
        return len(changed)

    def replicate_deregister(self, names: list[str]) -> None:
        self.state.deregister(names)

    def poll(self, services: list[str], since: int) -> tuple[int, list[Change]]:
        return self.state.poll(services, since)

    def online_count(self) -> int:
        return self.state.online_count()
