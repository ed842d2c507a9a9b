"""The timeline's action kinds in one table. A row says, for one kind: the key a scenario entry
writes (a field of schema.EntrySpec of that name), its checker (which makes the typed action from
the entry, checks.py calls it), the typed action, the runner (the method of timeline.Steps that
runs it at its time, and the one that ends its window), the events it emits and the rules that
differ by kind. schema.py, checks.py, timeline.py and simian.py read it, so a new kind is one row
here plus its field, its checker and its runner; tests/test_scenario_kinds.py holds every layer
to the table.

Runners are named, not referenced: they live in the timeline, which imports this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from nanoservices.scenario import actions as a
from nanoservices.scenario import entry_checks as entry
from nanoservices.scenario.deploy_checks import deploy_action
from nanoservices.scenario.entry_checks import Checker
from nanoservices.scenario.events import EventKind as E
from nanoservices.scenario.load_checks import load_action


@dataclass(frozen=True)
class Kind:
    key: str  # the entry's key in a scenario file (`deploy:`, `monkey:`, ...): schema.EntrySpec's field
    action: type  # what it becomes (scenario.actions)
    checker: Checker  # entry -> a maker of its action, or None with its problems added
    runner: str  # the timeline.Steps method that runs it at `at`
    events: tuple[E, ...]  # the event kinds running it emits (the deploy's: its whole life)
    ender: str = ""  # the timeline.Steps method that ends its window at `until` ("": none)
    chaos: bool = False  # the Simian Army's: --no-chaos drops it, and it replaces --chaos's kill
    windowed: bool = False  # takes `for` (latency, errors, partition; load: a burst's; an outage's)
    once: bool = False  # happens once: `at` only, never `every`

    @property
    def incident(self) -> bool:
        """In force over a window on a target or between sides: two of one kind on one at once clash."""
        return self.chaos and self.windowed and self.runner.endswith("_start")  # not an outage's


DEPLOY_EVENTS = (
    E.DEPLOY_START, E.GROUP_UP, E.TRAFFIC_SHIFT, E.JUDGEMENT, E.PROMOTE, E.DEPLOY_UNFINISHED,
    E.DEPLOY_INTERRUPTED, E.ROLLBACK, E.GROUP_STOPPED,
)  # fmt: skip
ROLLBACK_EVENTS = (E.TRAFFIC_SHIFT, E.ROLLBACK, E.GROUP_STOPPED)
INCIDENT_EVENTS = (E.INCIDENT_START, E.INCIDENT_END)
PARTITION_EVENTS = (E.PARTITION_START, E.PARTITION_END)
LOAD_EVENTS = (E.LOAD_CHANGE, E.LOAD_END)
# A kill's own event, and at the run's end what it did (runtime/affected.py: a kill has no end event)
MONKEY_EVENTS = (E.CHAOS_MONKEY, E.CHAOS_EFFECTS)
GORILLA_EVENTS = (E.GORILLA, E.CHAOS_EFFECTS, E.GORILLA_RECOVERED)  # recovered: with `for` only
KONG_EVENTS = (E.KONG, E.CHAOS_EFFECTS, E.KONG_RECOVERED)

# fmt: off
KINDS = (
    Kind("deploy", a.Deploy, deploy_action, "deploy", DEPLOY_EVENTS, once=True),
    Kind("rollback", a.Rollback, entry.rollback_action, "rollback", ROLLBACK_EVENTS, once=True),
    Kind("monkey", a.Monkey, entry.monkey_action, "monkey", MONKEY_EVENTS, chaos=True),
    Kind("gorilla", a.Gorilla, entry.gorilla_action, "gorilla", GORILLA_EVENTS, "recover",
         chaos=True, windowed=True),
    Kind("kong", a.Kong, entry.kong_action, "kong", KONG_EVENTS, "recover", chaos=True,
         windowed=True),
    Kind("latency", a.LatencyIncident, entry.latency_action, "incident_start", INCIDENT_EVENTS,
         "incident_end", chaos=True, windowed=True),
    Kind("errors", a.ErrorIncident, entry.errors_action, "incident_start", INCIDENT_EVENTS,
         "incident_end", chaos=True, windowed=True),
    Kind("partition", a.Partition, entry.partition_action, "partition_start", PARTITION_EVENTS,
         "partition_end", chaos=True, windowed=True),
    Kind("load", a.Load, load_action, "load", LOAD_EVENTS, "load_end", windowed=True),
)
# fmt: on
BY_KEY = {kind.key: kind for kind in KINDS}
BY_ACTION = {kind.action: kind for kind in KINDS}
KEYS = tuple(BY_KEY)  # in the order problems list them
CHAOS = tuple(kind.action for kind in KINDS if kind.chaos)
WINDOWED = tuple(kind.key for kind in KINDS if kind.windowed)
ONCE = tuple(kind.key for kind in KINDS if kind.once)


def of(action: object) -> Kind:
    """The row of an action (KeyError for what is not a timeline action)."""
    return BY_ACTION[type(action)]
