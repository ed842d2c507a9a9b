"""The scenario file's shape, as pydantic models: types and per-field rules only.

Rules that need several fields, the run's duration or the deployment plan live in `checks.py`,
which can point at the exact key. Each timeline entry and version profile is validated on its
own (see `validate.py`), so one broken entry does not hide the problems of the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictStr,
    model_validator,
)

from nanoservices.capacity import Capacity
from nanoservices.scenario import quantities as q
from nanoservices.scenario.actions import INCONCLUSIVE_POLICIES
from nanoservices.scenario.distributions import Fixed, LatencyModel, LogNormal, Normal, Percentiles, Uniform
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


def _fixed_short_form(value: Any) -> Any:
    """`latency: 20ms` means a fixed latency."""
    return value if isinstance(value, dict) else {"fixed": value}


Duration = Annotated[float | None, PlainValidator(q.duration)]
Share = Annotated[float, PlainValidator(q.share)]
Rate = Annotated[float | None, PlainValidator(q.rate)]
Number = Annotated[float | None, PlainValidator(q.number)]
Name = Annotated[str, PlainValidator(q.name)]
OptName = Annotated[str | None, PlainValidator(q.name)]
Version = Annotated[str, PlainValidator(q.version)]
Strategy = Annotated[str, PlainValidator(_strategy)]
Policy = Annotated[str | None, PlainValidator(_inconclusive)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Percentile keys a latency may give: (key, quantile).
PERCENTILE_KEYS = (
    ("p1", 0.01),
    ("p5", 0.05),
    ("p10", 0.10),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p100", 1.0),
)


class LatencySpec(_Model):
    """One of: fixed | min+max | mean+stddev | median+p99 | percentiles (p50, p90, p99, ...)."""

    fixed: Duration = None
    min: Duration = None
    max: Duration = None
    mean: Duration = None
    stddev: Duration = None
    median: Duration = None
    p1: Duration = None
    p5: Duration = None
    p10: Duration = None
    p25: Duration = None
    p50: Duration = None
    p75: Duration = None
    p90: Duration = None
    p95: Duration = None
    p99: Duration = None
    p999: Duration = Field(None, alias="p99.9")
    p100: Duration = None

    @model_validator(mode="after")
    def _consistent(self) -> LatencySpec:
        self.to_model()
        return self

    def to_model(self) -> LatencyModel:
        given = {key for key in self.model_fields_set if getattr(self, key) is not None}
        percentiles = [
            (quantile, getattr(self, key.replace(".", "")))
            for key, quantile in PERCENTILE_KEYS
            if key.replace(".", "") in given
        ]
        shapes = {
            "fixed": {"fixed"},
            "uniform": {"min", "max"},
            "normal": {"mean", "stddev"},
            "lognormal": {"median", "p99"},
        }
        for shape, keys in shapes.items():
            if given == keys:
                return _build(shape, self)
        if given and not given & {"fixed", "min", "max", "mean", "stddev", "median"}:
            return Percentiles(tuple(percentiles))
        raise ValueError(
            f"cannot tell the distribution from keys {sorted(given) or 'none'}; give one of: a fixed time "
            "(20ms), {min, max}, {mean, stddev}, {median, p99} or percentiles {p50, p90, p99}"
        )


def _build(shape: str, spec: LatencySpec) -> LatencyModel:
    if shape == "fixed":
        return Fixed(spec.fixed or 0.0)
    if shape == "uniform":
        return Uniform(spec.min or 0.0, spec.max or 0.0)
    if shape == "normal":
        return Normal(spec.mean or 0.0, spec.stddev or 0.0)
    return LogNormal(spec.median or 0.0, spec.p99 or 0.0)


Latency = Annotated[LatencySpec | None, BeforeValidator(_fixed_short_form)]


def _whole(least: int, what: str) -> PlainValidator:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{what} must be a whole number of {least} or more, got {q.shown(value)}")
        return value

    return PlainValidator(check)


def _at_least_zero(value: object) -> float:
    number = q.number(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {q.shown(value)}")
    return number


class CapacitySpec(_Model):
    """An instance's capacity (nanoservices/capacity.py): workers, queue, service time, USL factors."""

    workers: Annotated[int, _whole(1, "workers")]
    queue: Annotated[int, _whole(0, "queue")] = 0
    service_time: Latency = None
    contention: Annotated[float, PlainValidator(_at_least_zero)] = 0.0
    coherency: Annotated[float, PlainValidator(_at_least_zero)] = 0.0
    blocking: StrictBool = False

    def to_capacity(self) -> Capacity:
        model = self.service_time.to_model() if self.service_time is not None else None
        return Capacity(self.workers, self.queue, model, self.contention, self.coherency, self.blocking)


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
