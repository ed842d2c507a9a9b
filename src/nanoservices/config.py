"""One RunConfig per run, validated once at the edge (CLI or library call), then passed explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nanoservices.packages.base import BehaviourSettings


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    duration: float = Field(default=10.0, ge=0)  # seconds
    scale: int = Field(default=100, ge=1)  # percent (fsm: number of pirates)
    regions: int = Field(default=1, ge=1)
    step: int = Field(default=0, ge=0)  # migration step / output suffix
    seed: int = 1
    rate: float = Field(default=100.0, gt=0)  # requests per second per denominator (spigo: chat 10ms)
    poll_interval: float = Field(default=1.0, gt=0)  # Eureka poll, spigo's -u
    request_timeout: float = Field(default=2.0, gt=0)
    max_in_flight: int = Field(default=64, ge=0)  # per traffic source; 0 = open loop, no limit
    instances_per_host: int = Field(default=1, ge=1)
    chaos: bool = True
    out_dir: Path | None = None
    graphml: bool = False
    reduce_names: bool = False  # spigo's -f: one graph node per service and zone
    address: str | None = None  # Ray cluster address; None starts an embedded single-node Ray
    # nanoservices.tracing.TracingSettings, or None for an untraced run; typed loosely so importing
    # the config does not import the OpenTelemetry SDK.
    tracing: Any = None
    args: tuple[str, ...] = ()  # the command line, recorded in the graph file header

    @property
    def behaviour_settings(self) -> BehaviourSettings:
        return BehaviourSettings(request_interval=1.0 / self.rate, regions=self.regions)
