"""A run as a timeline: the scenario file (deploys and the Simian Army), its models and its events.

Pure logic, no Ray: the supervisor executes a `Scenario`'s actions and emits `Event`s. Hosts use
the models and events, so importing this package loads neither pydantic nor PyYAML; the loaders
(`load_scenario`, `parse_scenario`, `parse_deploy_shortcut`) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nanoservices.model.distributions import (
    ErrorRate,
    Fixed,
    LatencyModel,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
)
from nanoservices.scenario.actions import (
    Action,
    Canary,
    Deploy,
    ErrorIncident,
    Gorilla,
    Highlander,
    Judge,
    Kong,
    LatencyIncident,
    Location,
    Monkey,
    Partition,
    RedBlack,
    Rollback,
    Rolling,
    Scenario,
    Strategy,
    Target,
    VersionBehaviour,
)
from nanoservices.scenario.events import Event, EventKind, EventLog, read_events

if TYPE_CHECKING:
    from nanoservices.scenario.shortcut import parse_deploy_shortcut
    from nanoservices.scenario.validate import load_scenario, parse_scenario

_LAZY = {
    "load_scenario": "nanoservices.scenario.validate",
    "parse_scenario": "nanoservices.scenario.validate",
    "parse_deploy_shortcut": "nanoservices.scenario.shortcut",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "Canary",
    "Deploy",
    "ErrorIncident",
    "ErrorRate",
    "Event",
    "EventKind",
    "EventLog",
    "Fixed",
    "Gorilla",
    "Highlander",
    "Judge",
    "Kong",
    "LatencyIncident",
    "LatencyModel",
    "Location",
    "LogNormal",
    "Monkey",
    "Normal",
    "Partition",
    "Percentiles",
    "RedBlack",
    "Rollback",
    "Rolling",
    "Scenario",
    "Strategy",
    "Target",
    "Uniform",
    "VersionBehaviour",
    "load_scenario",
    "parse_deploy_shortcut",
    "parse_scenario",
    "read_events",
]
