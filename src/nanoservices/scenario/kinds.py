"""The timeline's action kinds in one table: the key a scenario entry writes (a field of
schema.EntrySpec, and the key checks.py registers its maker under), the typed action it becomes,
and the rules that differ by kind. schema.py, checks.py and timeline.py read it, so a new kind is
one row here plus its field, its maker and its runner (tests/test_scenario_kinds.py holds them
to the table).
"""

from __future__ import annotations

from dataclasses import dataclass

from nanoservices.scenario import actions as a


@dataclass(frozen=True)
class Kind:
    key: str  # the entry's key in a scenario file (`deploy:`, `monkey:`, ...)
    action: type  # what it becomes (scenario.actions)
    chaos: bool = False  # the Simian Army's: --no-chaos drops it, and it replaces --chaos's kill
    windowed: bool = False  # takes `for` (latency, errors, partition; load: a burst's)
    once: bool = False  # happens once: `at` only, never `every`


KINDS = (
    Kind("deploy", a.Deploy, once=True),
    Kind("rollback", a.Rollback, once=True),
    Kind("monkey", a.Monkey, chaos=True),
    Kind("gorilla", a.Gorilla, chaos=True),
    Kind("kong", a.Kong, chaos=True),
    Kind("latency", a.LatencyIncident, chaos=True, windowed=True),
    Kind("errors", a.ErrorIncident, chaos=True, windowed=True),
    Kind("partition", a.Partition, chaos=True, windowed=True),
    Kind("load", a.Load, windowed=True),
)
BY_KEY = {kind.key: kind for kind in KINDS}
KEYS = tuple(BY_KEY)  # in the order problems list them
CHAOS = tuple(kind.action for kind in KINDS if kind.chaos)
WINDOWED = tuple(kind.key for kind in KINDS if kind.windowed)
ONCE = tuple(kind.key for kind in KINDS if kind.once)
