"""One RunConfig per run, validated once at the edge (CLI or library call), then passed explicitly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from nanoservices import defaults
from nanoservices.builtin import MIGRATION
from nanoservices.packages.base import BehaviourSettings

MAX_SECONDS = 604_800.0  # one week: longer runs, polls or timeouts are typing mistakes, not experiments
MAX_RATE = 100_000.0  # requests/s per denominator: its ticker cannot usefully fire faster than every 10 us

# field: (lowest allowed, whether the lowest is allowed, highest allowed, unit)
_RANGES: dict[str, tuple[float, bool, float, str]] = {
    "duration": (0.0, True, MAX_SECONDS, "seconds (a week)"),
    "rate": (0.0, False, MAX_RATE, "requests/s per denominator"),
    "poll_interval": (0.0, False, MAX_SECONDS, "seconds (a week)"),
    "request_timeout": (0.0, False, MAX_SECONDS, "seconds (a week)"),
    "lease_renewal": (0.0, False, MAX_SECONDS, "seconds (a week)"),
    "try_timeout": (0.0, True, MAX_SECONDS, "seconds (a week)"),
}


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    # Defaults (and why) in nanoservices.defaults, which the CLI and the runtime read too.
    duration: float = defaults.DURATION  # seconds
    scale: int = Field(default=defaults.SCALE, ge=1)  # percent (fsm: number of pirates)
    regions: int = Field(default=defaults.REGIONS, ge=1)
    step: int = Field(default=defaults.STEP, ge=0)  # migration step, spigo's -s
    seed: int = defaults.SEED
    rate: float = defaults.RATE  # requests per second per denominator
    poll_interval: float = defaults.POLL_INTERVAL  # Eureka poll, spigo's -u
    request_timeout: float = defaults.REQUEST_TIMEOUT
    lease_renewal: float = defaults.LEASE_RENEWAL  # Eureka heartbeat; leases last 3 periods
    retries: int = Field(default=defaults.RETRIES, ge=0, le=100)  # Ribbon's; 0: no retries
    retry_timeouts: bool = (
        defaults.RETRY_TIMEOUTS
    )  # a timed-out GET is retried on the next server too (idempotent)
    # Ribbon's ReadTimeout under Hystrix's: a try that another server could retry gives up after this
    # (timed-out GETs are then retried); 0: every try waits the whole timeout.
    try_timeout: float = defaults.TRY_TIMEOUT
    # Per dependency (Hystrix's per-command timeout): service -> seconds its callers wait for it;
    # the others wait request_timeout.
    timeouts: dict[str, float] = Field(default_factory=dict)
    max_in_flight: int = Field(default=defaults.MAX_IN_FLIGHT, ge=0)  # per traffic source; 0: no limit
    # Workers per traffic source (runtime/sources.py), sharing its rate; None: one per node in a
    # cluster, one per core on one machine (Ray runs; an in-process run keeps one).
    sources: int | None = Field(default=None, ge=1, le=1024)
    instances_per_host: int = Field(default=defaults.INSTANCES_PER_HOST, ge=1)
    # How hosts send each other messages: direct sockets (the data plane), or Ray actor calls
    # (the old path, kept so both can be measured in one run).
    transport: Literal["socket", "ray"] = defaults.TRANSPORT
    chaos: bool = defaults.CHAOS
    out_dir: Path | None = None
    graphml: bool = False
    reduce_names: bool = False  # spigo's -f: one graph node per service and zone
    address: str | None = None  # Ray cluster address; None starts an embedded single-node Ray
    # nanoservices.tracing.TracingSettings, or None for an untraced run; typed loosely so importing
    # the config does not import the OpenTelemetry SDK.
    tracing: Any = None
    args: tuple[str, ...] = ()  # the command line, recorded in the graph file header
    scenario_file: Path | None = None  # --scenario: the run's timeline (deploys, chaos)
    deploys: tuple[str, ...] = ()  # --deploy service@version[:strategy] shortcuts
    arrivals: Literal["uniform", "poisson"] = (
        defaults.ARRIVALS
    )  # traffic sources' arrivals (open-model Poisson)
    # (service, load.RateSchedule) per traffic source with `load:` actions, set from the scenario
    # once it is read (simulation.py); typed loosely, never given on the command line.
    load: tuple[Any, ...] = ()

    @field_validator(*_RANGES)
    @classmethod
    def _in_range(cls, value: float, info: ValidationInfo) -> float:
        """Finite and sane: `inf` would run forever or issue nothing, 1e9 requests/s only skip ticks."""
        low, low_allowed, high, unit = _RANGES[str(info.field_name)]
        if math.isfinite(value) and (low < value or (low_allowed and value == low)) and value <= high:
            return value
        span = f"from {low:g} to" if low_allowed else f"above {low:g} and at most"
        raise PydanticCustomError(
            "out_of_range",
            "must be finite, {span} {high} {unit}, got {value}",
            {"span": span, "high": f"{high:,.0f}", "unit": unit, "value": f"{value:g}"},
        )

    @field_validator("timeouts")
    @classmethod
    def _timeouts_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for service, seconds in value.items():
            if not (math.isfinite(seconds) and 0.0 < seconds <= MAX_SECONDS):
                raise PydanticCustomError(
                    "out_of_range",
                    "{service}: must be finite, above 0 and at most {high} seconds (a week), got {value}",
                    {"service": service, "high": f"{MAX_SECONDS:,.0f}", "value": f"{seconds:g}"},
                )
        return value

    @field_validator("step")
    @classmethod
    def _step_for_migration(cls, value: int, info: ValidationInfo) -> int:
        arch = info.data.get("arch")
        if value and arch != MIGRATION:
            raise PydanticCustomError(
                "step_not_migration",
                "applies only to the migration architecture, not {arch}; drop it",
                {"arch": repr(arch)},
            )
        return value

    @property
    def behaviour_settings(self) -> BehaviourSettings:
        return BehaviourSettings(
            request_interval=1.0 / self.rate,
            regions=self.regions,
            load=self.load,
            poisson=self.arrivals == "poisson",
        )
