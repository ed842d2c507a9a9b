"""nanoservices: simulate microservice architectures (spigo's format) with every instance a Ray actor.

Importing this package starts nothing and imports neither Ray nor OpenTelemetry; `run` loads the
runtime on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanoservices.architecture import Architecture, load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand
from nanoservices.problems import InputError, Problem

if TYPE_CHECKING:
    from nanoservices.simulation import run
    from nanoservices.summary import RunSummary

__all__ = [
    "Architecture",
    "DeploymentPlan",
    "InputError",
    "InstanceSpec",
    "Problem",
    "RunConfig",
    "RunSummary",
    "expand",
    "load_architecture",
    "run",
]


def __getattr__(name: str) -> Any:
    if name == "run":
        from nanoservices.simulation import run

        return run
    if name == "RunSummary":
        from nanoservices.summary import RunSummary

        return RunSummary
    raise AttributeError(f"module 'nanoservices' has no attribute {name!r}")
