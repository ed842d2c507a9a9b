"""What a simulated package is: a plain class that reacts to messages through an InstanceContext.

No Ray here. The runtime (or a test's fake context) owns delivery, discovery, timers and tracing;
a behaviour only decides what to send. Subclasses register themselves by package name, so the
architecture validator and the spawner read one registry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, ClassVar, Protocol

from nanoservices import defaults
from nanoservices.messages import Kind, Message, Status

if TYPE_CHECKING:
    from nanoservices.load import RateSchedule

_REGISTRY: dict[str, type[Behaviour]] = {}


@dataclass(frozen=True, slots=True)
class Peer:
    """A discovered instance, as a caller sees it."""

    name: str  # nine-field full name
    service: str
    package: str
    region: str
    zone: str
    version: str = "v1"


ReplyHandler = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class BehaviourSettings:
    """Run-wide knobs a behaviour may read; everything else comes from its InstanceSpec."""

    request_interval: float = 1.0 / defaults.RATE  # denominator: seconds between requests (10ms)
    regions: int = defaults.REGIONS  # --regions: priamCassandra replicates to the first N regions
    # A traffic source's rate over time, by its service (the scenario's `load:` actions), and
    # whether its arrivals are Poisson (--arrivals poisson) rather than evenly spaced.
    load: tuple[tuple[str, RateSchedule], ...] = ()
    poisson: bool = False

    def schedule(self, service: str) -> RateSchedule | None:
        for name, schedule in self.load:
            if name == service:
                return schedule
        return None


class Spec(Protocol):
    """What a behaviour reads of its instance (plan.InstanceSpec has these). A protocol, not the
    plan's class: packages sit below the plan, which reads their capabilities (tests/test_layers.py)."""

    @property
    def name(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def package(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def dependencies(self) -> tuple[str, ...]: ...
    @property
    def ring(self) -> tuple[tuple[str, int], ...]: ...


class InstanceContext(Protocol):
    """Everything a behaviour may touch. Implemented by the runtime host and by test fakes."""

    @property
    def spec(self) -> Spec: ...

    settings: BehaviourSettings
    rng: random.Random  # seeded from the run seed and the instance name

    @property
    def routes(self) -> Mapping[str, Peer]:
        """Dependency instances discovered so far (zone filter applied), by full name."""
        ...

    def now(self) -> float: ...

    def call(self, target: str, kind: Kind, payload: str, on_reply: ReplyHandler) -> None:
        """Send a request; on_reply gets its response, or a failure response (status != OK)."""
        ...

    def forward(self, request: Message, target: str) -> None:
        """Pass a request on to target and relay its response (or failure) back to the requester."""
        ...

    def reply(self, request: Message, payload: str, status: Status = Status.OK) -> None:
        """Answer a request received earlier (the response kind follows the request kind)."""
        ...

    def send(self, target: str, kind: Kind, payload: str) -> None:
        """One-way message (Replicate, NameDrop, GoldCoin...): no response is expected."""
        ...

    def connect(self, name: str) -> None:
        """Learn of an instance outside discovery (pirates' buddies); recorded as a graph edge."""
        ...

    def every(self, interval: float, tick: Callable[[], None]) -> None:
        """Call tick every interval seconds until the instance stops."""
        ...

    def at_gaps(self, schedule: RateSchedule, poisson: bool, tick: Callable[[], None]) -> None:
        """Call tick at the schedule's rate over time (evenly spaced, or Poisson arrivals)."""
        ...


class Behaviour:
    """Base of every simulated package. Unhandled kinds are ignored, as spigo's actors ignore them."""

    packages: ClassVar[tuple[str, ...]] = ()  # the package names this class simulates
    # Capabilities: what the plan, the scenario and the run ask of a package, instead of its name
    # (packages/capabilities.py answers them by package name).
    cross_zone: ClassVar[bool] = True  # False: accept discovered instances only from the own zone
    generates_traffic: ClassVar[bool] = False  # starts requests of its own: a traffic source
    rate_source: ClassVar[bool] = False  # ticks at the run's --rate: the requested rate counts it,
    # a run may split it into source workers, and a simulated run ticks it
    stateful: ClassVar[bool] = False  # holds data a new version's fresh instances would not have
    keeps_ring: ClassVar[bool] = False  # the plan gives its instances a token ring per zone
    fsm_controlled: ClassVar[bool] = False  # the fsm controller's opening moves set it going

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.packages:
            if name in _REGISTRY:
                raise RuntimeError(f"package {name!r} registered twice ({_REGISTRY[name]} and {cls})")
            _REGISTRY[name] = cls

    def __init__(self, ctx: InstanceContext) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Called once the instance is registered and wired; traffic sources start timers here."""

    def on_routes_changed(self) -> None:
        """Called after discovery added or removed routes."""

    def on_message(self, msg: Message) -> None:
        """A request or one-way message addressed to this instance."""
        if msg.is_request:
            self.ctx.reply(msg, "", Status.NO_ROUTE)

    def stop(self) -> None:
        """Called when the instance stops (normally or by chaos)."""


# Package name -> the module under nanoservices.packages that simulates it. A host imports only
# the modules of the instances it runs: every module less is start-up time saved in every actor.
PACKAGE_MODULES: dict[str, str] = {
    "denominator": "denominator",
    "elb": "elb",
    "zuul": "zuul",
    "karyon": "karyon",
    "monolith": "monolith",
    "staash": "staash",
    "priamCassandra": "priam_cassandra",
    "riak": "priam_cassandra",
    "store": "store",
    "cache": "store",
    "volume": "store",
    "pirate": "pirate",
}


def behaviour_for(package: str) -> type[Behaviour]:
    behaviour = _REGISTRY.get(package)
    if behaviour is None:
        import_module(f"nanoservices.packages.{PACKAGE_MODULES[package]}")  # registers its classes
        behaviour = _REGISTRY[package]
    return behaviour


def known_packages() -> frozenset[str]:
    return frozenset(PACKAGE_MODULES)
