"""nanoservices: simulate microservice architectures (spigo's format) with every instance a Ray actor.

Importing this package starts nothing and imports nothing heavy: every name below loads its module
on first use. Host processes (one per Ray actor) import only what they run, which keeps actor
start-up close to that of an empty Ray actor.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nanoservices.architecture import Architecture, load_architecture
    from nanoservices.config import RunConfig
    from nanoservices.plan import DeploymentPlan, InstanceSpec, expand
    from nanoservices.problems import InputError, Problem
    from nanoservices.simulation import run
    from nanoservices.summary import RunSummary

_HOMES = {
    "Architecture": "nanoservices.architecture",
    "load_architecture": "nanoservices.architecture",
    "RunConfig": "nanoservices.config",
    "DeploymentPlan": "nanoservices.plan",
    "InstanceSpec": "nanoservices.plan",
    "expand": "nanoservices.plan",
    "InputError": "nanoservices.problems",
    "Problem": "nanoservices.problems",
    "run": "nanoservices.simulation",
    "RunSummary": "nanoservices.summary",
}

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
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'nanoservices' has no attribute {name!r}")
    return getattr(import_module(home), name)
