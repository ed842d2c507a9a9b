"""What a validated scenario is: typed, frozen actions on one clock, sorted by time.

An `every:` entry is already expanded into one action per occurrence. `origin` is the entry's
JSON path in the file, so events and errors can point back at the line that caused them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nanoservices.load import Burst, Change, RateSchedule, Shape
from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.model.distributions import LatencyModel
from nanoservices.plan import InstanceSpec

DEFAULT_KEEP = 5.0  # seconds a red/black old group stays OUT_OF_SERVICE, so rollback is a status flip
DEFAULT_JUDGE_AFTER = 10.0
DEFAULT_CANARY_SHARE = 0.10
DEFAULT_STEPS = (0.25, 0.5, 1.0)
INCONCLUSIVE_POLICIES = ("rollback", "promote")  # what a canary's final `inconclusive` verdict does


@dataclass(frozen=True, slots=True)
class Target:
    """One service's instances, or those of every service running a package."""

    service: str = ""
    package: str = ""

    def matches(self, spec: InstanceSpec) -> bool:
        return spec.service == self.service if self.service else spec.package == self.package

    def __str__(self) -> str:
        return self.service or f"package {self.package}"


@dataclass(frozen=True, slots=True)
class Location:
    """A region, or one zone of it (`us-east-1/zoneA`)."""

    region: str
    zone: str = ""

    def contains(self, spec: InstanceSpec) -> bool:
        return spec.region == self.region and (not self.zone or spec.zone == self.zone)

    def __str__(self) -> str:
        return f"{self.region}/{self.zone}" if self.zone else self.region


@dataclass(frozen=True, slots=True)
class Judge:
    """The canary judge (Kayenta's shape): a window, optional interim checks, and thresholds."""

    after: float = DEFAULT_JUDGE_AFTER  # seconds of canary traffic before the final judgement
    interval: float | None = None  # interim judgements this often; a fail rolls back early
    max_error_increase: float = 0.01  # canary error rate may exceed the baseline's by this much
    max_p99_ratio: float = 1.5  # canary p99 / baseline p99
    # ... and at least this many seconds more: a canary's fresh host process on a busy machine
    # answered a healthy v2's p99 in 11.7 ms against 4.4 ms (-d 15 -K 100, load average 60)
    min_p99_increase: float = 0.010
    pass_score: float = 95.0
    marginal_score: float = 75.0
    inconclusive: str = "rollback"  # too few requests at the last look: rollback | promote

    @property
    def first_verdict(self) -> float:
        """Seconds after the canary starts when the judge can first roll it back."""
        return self.interval if self.interval is not None else self.after


@dataclass(frozen=True, slots=True)
class RedBlack:
    keep: float = DEFAULT_KEEP


@dataclass(frozen=True, slots=True)
class Rolling:
    steps: tuple[float, ...] = DEFAULT_STEPS  # cumulative shares of instances replaced, ending at 1.0


@dataclass(frozen=True, slots=True)
class Canary:
    share: float = DEFAULT_CANARY_SHARE
    judge: Judge = field(default_factory=Judge)
    keep: float = DEFAULT_KEEP  # after promotion it continues as red/black


@dataclass(frozen=True, slots=True)
class Highlander:
    pass


Strategy = RedBlack | Rolling | Canary | Highlander
STRATEGY_NAMES: dict[type, str] = {
    RedBlack: "redblack",
    Rolling: "rolling",
    Canary: "canary",
    Highlander: "highlander",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Deploy:
    at: float
    service: str
    version: str
    strategy: Strategy = field(default_factory=RedBlack)
    origin: str = ""

    @property
    def strategy_name(self) -> str:
        return STRATEGY_NAMES[type(self.strategy)]

    @property
    def known_duration(self) -> float:
        """A lower bound on how long the deploy runs (start-up times are not known in advance)."""
        if isinstance(self.strategy, RedBlack):
            return self.strategy.keep
        if isinstance(self.strategy, Canary):
            return self.strategy.judge.first_verdict
        return 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollback:
    at: float
    service: str
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Monkey:
    """Chaos Monkey: one seeded choice among the target's live instances."""

    at: float
    target: Target
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Gorilla:
    """Chaos Gorilla: every instance of one zone dies at once."""

    at: float
    zone: Location
    until: float = 0.0  # with `for`: the zone comes back then (scenario/recovery.py); 0: never
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Kong:
    """Chaos Kong: every zone of one region."""

    at: float
    region: str
    until: float = 0.0  # as a gorilla's
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyIncident:
    """Latency Monkey: the target's responses take `add` longer from `at` until `until`."""

    at: float
    until: float
    target: Target
    add: LatencyModel
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorIncident:
    at: float
    until: float
    target: Target
    rate: float
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """Messages between any two of the sides are lost from `at` until `until`."""

    at: float
    until: float
    sides: tuple[Location, ...]
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """A traffic source's rate changes at `at` (a step, ramp or diurnal wave from then on, or a
    burst until `until`). Sources get every change before the run (`Scenario.schedules`); the
    timeline only records each as an event at its time."""

    at: float
    service: str
    shape: Shape
    until: float = 0.0  # a burst's end
    origin: str = ""


Action = Deploy | Rollback | Monkey | Gorilla | Kong | LatencyIncident | ErrorIncident | Partition | Load
Incident = LatencyIncident | ErrorIncident | Partition


@dataclass(frozen=True)
class Scenario:
    """A run's timeline: actions sorted by time (ties keep file order) and version behaviours."""

    duration: float
    actions: tuple[Action, ...] = ()
    versions: Mapping[tuple[str, str], VersionBehaviour] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        # a copy, not a MappingProxyType: scenarios travel to Ray actors, and proxies do not pickle
        object.__setattr__(self, "versions", dict(self.versions))
        object.__setattr__(self, "actions", tuple(sorted(self.actions, key=lambda a: a.at)))

    def with_actions(self, extra: Iterable[Action]) -> Scenario:
        """This scenario plus more actions (from --deploy), still sorted by time."""
        return Scenario(self.duration, (*self.actions, *extra), self.versions, self.source)

    def behaviour(self, service: str, version: str) -> VersionBehaviour | None:
        return self.versions.get((service, version))

    def schedules(self, rate: float) -> tuple[tuple[str, RateSchedule], ...]:
        """Each traffic source service with `load:` actions and its rate over time from `rate` on."""
        changes: dict[str, list[Change]] = {}
        for action in self.actions:
            if isinstance(action, Load):
                shape = action.shape
                if isinstance(shape, Burst):
                    shape = Burst(shape.rate, action.until - action.at)
                changes.setdefault(action.service, []).append(Change(action.at, shape))
        return tuple((service, RateSchedule(rate, found)) for service, found in sorted(changes.items()))
