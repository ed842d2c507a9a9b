"""A run as a timeline: the scenario file (deploys and the Simian Army), its models and its events.

Pure logic, no Ray: the supervisor executes a `Scenario`'s actions and emits `Event`s.
"""

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
from nanoservices.scenario.distributions import (
    ErrorRate,
    Fixed,
    LatencyModel,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
)
from nanoservices.scenario.events import Event, EventKind, EventLog, read_events
from nanoservices.scenario.shortcut import parse_deploy_shortcut
from nanoservices.scenario.validate import load_scenario, parse_scenario

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
