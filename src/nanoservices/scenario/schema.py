"""The scenario file's shape, as pydantic models: types and per-field rules only.

Rules that need several fields, the run's duration or the deployment plan live in `checks.py`,
which can point at the exact key. Each timeline entry and version profile is validated on its
own (see `validate.py`), so one broken entry does not hide the problems of the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    StrictStr,
)

from nanoservices.model import quantities as q
from nanoservices.model.specs import (  # shared with architecture.py: the model layer
    CapacitySpec,
    Duration,
    Latency,
    Rate,
)
from nanoservices.model.specs import Model as _Model
from nanoservices.model.specs import at_least_zero as _at_least_zero
from nanoservices.scenario.actions import INCONCLUSIVE_POLICIES
from nanoservices.scenario.kinds import KEYS

STRATEGIES = ("redblack", "rolling", "canary", "highlander")
ACTIONS = KEYS  # one field of EntrySpec each (scenario/kinds.py)


def _present(hint: str) -> BeforeValidator:
    """Refuse an explicit null (`deploy:` with nothing after it), which pydantic would take as absent."""

    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(f"has no value; {hint}")
        return value

    return BeforeValidator(check)


def _strategy(value: object) -> str:
    if value not in STRATEGIES:
        shown = repr(value) if isinstance(value, str) else q.shown(value)
        raise ValueError(f"unknown strategy {shown}; use redblack, rolling, canary or highlander")
    return str(value)


def _inconclusive(value: object) -> str:
    if value not in INCONCLUSIVE_POLICIES:
        shown = repr(value) if isinstance(value, str) else q.shown(value)
        raise ValueError(f"unknown inconclusive policy {shown}; use rollback or promote")
    return str(value)


def _service_short_form(value: Any) -> Any:
    """`rollback: homepage` and `monkey: homepage` mean {service: homepage}."""
    return {"service": value} if isinstance(value, str) else value


Share = Annotated[float, PlainValidator(q.share)]
Number = Annotated[float | None, PlainValidator(q.number)]
Name = Annotated[str, PlainValidator(q.name)]
OptName = Annotated[str | None, PlainValidator(q.name)]
Version = Annotated[str, PlainValidator(q.version)]
Strategy = Annotated[str, PlainValidator(_strategy)]
Policy = Annotated[str | None, PlainValidator(_inconclusive)]


class VersionProfile(_Model):
    """How one service version behaves; what it leaves out stays as the architecture says."""

    latency: Latency = None
    errors: Rate = None
    capacity: Annotated[CapacitySpec | None, _present("give at least workers, e.g. {workers: 8}")] = None


class JudgeSpec(_Model):
    after: Duration = None
    interval: Duration = None
    max_error_increase: Rate = None
    max_p99_ratio: Number = None
    min_p99_increase: Duration = None
    pass_score: Number = None
    marginal_score: Number = None
    inconclusive: Policy = None


class DeploySpec(_Model):
    service: Name
    version: Version
    strategy: Strategy = "redblack"
    keep: Duration = None
    steps: Annotated[list[Share] | None, _present("give steps such as [25%, 50%, 100%]")] = None
    share: Annotated[Share | None, _present("give a share such as 10%")] = None
    judge: Annotated[JudgeSpec | None, _present("give at least after: 10s")] = None


class TargetSpec(_Model):
    """Which instances an action picks from: one service, or every service running a package."""

    service: OptName = None
    package: OptName = None


class RollbackSpec(_Model):
    service: Name


class LatencyIncidentSpec(TargetSpec):
    add: Annotated[Latency, _present("give the added latency, such as add: 200ms")]


class ErrorIncidentSpec(TargetSpec):
    rate: Annotated[Rate, _present("give a rate such as 0.3")]


Service = BeforeValidator(_service_short_form)


class RampSpec(_Model):
    to: Annotated[float, PlainValidator(_at_least_zero)]
    over: Annotated[Duration, _present("give how long the ramp takes, such as over: 20s")]


class DiurnalSpec(_Model):
    min: Annotated[float, PlainValidator(_at_least_zero)]
    max: Annotated[float, PlainValidator(_at_least_zero)]
    period: Annotated[Duration, _present("give the wave's period, such as period: 60s")]


class LoadSpec(_Model):
    """A traffic source's rate from `at` on: one of rate (a step), ramp, diurnal, burst (with for)."""

    service: Name
    rate: Annotated[float | None, PlainValidator(_at_least_zero)] = None
    ramp: Annotated[RampSpec | None, _present("give to and over, such as {to: 3000, over: 20s}")] = None
    diurnal: Annotated[DiurnalSpec | None, _present("give min, max and period")] = None
    burst: Annotated[float | None, PlainValidator(_at_least_zero)] = None


class EntrySpec(_Model):
    """One timeline entry: when (at, or every with from/until), for how long, and one action."""

    at: Duration = None
    every: Duration = None
    from_: Duration = Field(None, alias="from")
    until: Duration = None
    for_: Duration = Field(None, alias="for")
    deploy: Annotated[DeploySpec | None, _present("give service and version")] = None
    rollback: Annotated[RollbackSpec | None, Service, _present("give the service to roll back")] = None
    monkey: Annotated[TargetSpec | None, Service, _present("give service or package")] = None
    gorilla: OptName = None
    kong: OptName = None
    latency: Annotated[LatencyIncidentSpec | None, _present("give service and add")] = None
    errors: Annotated[ErrorIncidentSpec | None, _present("give service and rate")] = None
    partition: Annotated[
        list[Name] | None, _present("give zones, such as [us-east-1/zoneA, us-east-1/zoneC]")
    ] = None
    load: Annotated[LoadSpec | None, _present("give service and one of rate, ramp, diurnal, burst")] = None

    def actions(self) -> list[str]:
        return [key for key in ACTIONS if getattr(self, key) is not None]


class FileSpec(_Model):
    """The top level; entries and profiles are checked one by one afterwards."""

    description: StrictStr = ""
    versions: Annotated[dict[Any, Any], _present("give service@version: profile pairs or remove the key")] = (
        Field(default_factory=dict)
    )
    timeline: Annotated[list[Any], _present("give a list of entries or remove the key")] = Field(
        default_factory=list
    )
    capacity: Annotated[dict[Any, Any], _present("give service: {workers: N} pairs or remove the key")] = (
        Field(default_factory=dict)
    )
