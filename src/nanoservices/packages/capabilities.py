"""What a package can do, asked by package name: the behaviour classes' capability attributes, so
the plan, the scenario and the run test a capability, never a package's name.

Each lookup imports the package's module on first use (`behaviour_for`); none runs per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from nanoservices.packages.base import behaviour_for, known_packages


class _Instance(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def package(self) -> str: ...


class _Plan(Protocol):
    @property
    def instances(self) -> Iterable[_Instance]: ...


def generates_traffic(package: str) -> bool:
    """Starts requests of its own (denominator's rate, pirates' chat)."""
    return behaviour_for(package).generates_traffic


def rate_source(package: str) -> bool:
    """Sends at the run's --rate: counted in the requested rate and split into source workers."""
    return behaviour_for(package).rate_source


def keeps_ring(package: str) -> bool:
    """The plan gives its instances a token ring per region and zone."""
    return behaviour_for(package).keeps_ring


def stateful(package: str) -> bool:
    """Holds data (store, cache, priamCassandra...)."""
    return behaviour_for(package).stateful


def deployable(package: str) -> bool:
    """A deploy starts new instances beside the old: fine for a stateless service, not for one that
    holds data (the new instances would hold none) nor for a traffic source."""
    behaviour = behaviour_for(package)
    return not (behaviour.stateful or behaviour.generates_traffic)


def deployable_packages() -> list[str]:
    """The known packages a deploy may replace, sorted: for a problem line's hint."""
    return sorted(package for package in known_packages() if deployable(package))


def traffic_sources(plan: _Plan) -> list[str]:
    """The full names of the plan's rate sources (each sends at the run's --rate)."""
    return [s.name for s in plan.instances if rate_source(s.package)]


def pirates(plan: _Plan) -> list[str]:
    """The full names of the plan's instances the fsm controller sets going."""
    return [s.name for s in plan.instances if behaviour_for(s.package).fsm_controlled]
