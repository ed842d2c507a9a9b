"""Eureka: one registry per zone, holding its region's registrations, answering incremental polls.

The state is a plain class so discovery rules are testable without Ray; runtime/registry_actor.py
wraps it. A change is stamped with the registry's own counter, so a poll says "what changed since
version v" instead of comparing clocks across processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class Registration:
    name: str  # instance full name
    service: str
    host: int  # index of the host actor running it
    online: bool
    version: int  # registry version of the last change


# What a poll returns per changed instance: (full name, service, host index, online)
Change = tuple[str, str, int, bool]


class RegistryState:
    """One Eureka server's table. Registrations replicate to the peers of the region (the caller
    delivers them); unlike spigo, deregistrations replicate too, so a stopped instance is forgotten
    in every zone and not only in the one it registered with."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version = 0
        self._by_name: dict[str, Registration] = {}
        self._by_service: dict[str, list[Registration]] = {}

    def register(self, entries: Iterable[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        """Add (name, service, host) entries; returns the ones that were new or back online."""
        changed = []
        for name, service, host in entries:
            known = self._by_name.get(name)
            if known is not None and known.online:
                continue
            self.version += 1
            if known is None:
                reg = Registration(name, service, host, True, self.version)
                self._by_name[name] = reg
                self._by_service.setdefault(service, []).append(reg)
            else:
                known.online, known.host, known.version = True, host, self.version
            changed.append((name, service, host))
        return changed

    def deregister(self, names: Iterable[str]) -> list[str]:
        """Mark instances offline; returns the names that were online."""
        changed = []
        for name in names:
            reg = self._by_name.get(name)
            if reg is None or not reg.online:
                continue
            self.version += 1
            reg.online, reg.version = False, self.version
            changed.append(name)
        return changed

    def poll(self, services: Iterable[str], since: int) -> tuple[int, list[Change]]:
        """Everything about these services that changed after version `since` (0: everything)."""
        changes: list[Change] = []
        for service in services:
            for reg in self._by_service.get(service, ()):
                if reg.version > since:
                    changes.append((reg.name, reg.service, reg.host, reg.online))
        return self.version, changes

    def online_count(self) -> int:
        return sum(1 for reg in self._by_name.values() if reg.online)
