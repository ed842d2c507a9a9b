"""The pydantic pieces an architecture file and a scenario file share: a latency (five shapes),
a capacity and the quantity types. Field rules only; the model layer, so architecture.py parses a
service's own latency without importing the scenario."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    model_validator,
)

from nanoservices.capacity import Capacity
from nanoservices.model import quantities as q
from nanoservices.model.distributions import Fixed, LatencyModel, LogNormal, Normal, Percentiles, Uniform

Duration = Annotated[float | None, PlainValidator(q.duration)]
Rate = Annotated[float | None, PlainValidator(q.rate)]


def _fixed_short_form(value: Any) -> Any:
    """`latency: 20ms` means a fixed latency."""
    return value if isinstance(value, dict) else {"fixed": value}


class Model(BaseModel):
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


class LatencySpec(Model):
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


def whole(least: int, what: str) -> PlainValidator:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{what} must be a whole number of {least} or more, got {q.shown(value)}")
        return value

    return PlainValidator(check)


def at_least_zero(value: object) -> float:
    number = q.number(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {q.shown(value)}")
    return number


class CapacitySpec(Model):
    """An instance's capacity (nanoservices/capacity.py): workers, queue, service time, USL factors."""

    workers: Annotated[int, whole(1, "workers")]
    queue: Annotated[int, whole(0, "queue")] = 0
    service_time: Latency = None
    contention: Annotated[float, PlainValidator(at_least_zero)] = 0.0
    coherency: Annotated[float, PlainValidator(at_least_zero)] = 0.0
    blocking: StrictBool = False

    def to_capacity(self) -> Capacity:
        model = self.service_time.to_model() if self.service_time is not None else None
        return Capacity(self.workers, self.queue, model, self.contention, self.coherency, self.blocking)
