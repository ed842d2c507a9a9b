"""The table of action kinds (scenario/kinds.py) is the one list: every kind has its schema field,
its checker and its action type, and nothing else is a kind."""

from __future__ import annotations

import typing

from nanoservices.scenario import actions as a
from nanoservices.scenario import checks, schema, timeline
from nanoservices.scenario.kinds import CHAOS, KINDS, ONCE, WINDOWED


def test_every_kind_has_its_field_checker_and_action_and_nothing_else_is_one() -> None:
    keys = [kind.key for kind in KINDS]
    fields = {info.alias or name for name, info in schema.EntrySpec.model_fields.items()}
    when = {"at", "every", "from", "until", "for"}
    assert fields - when == set(keys) and tuple(keys) == schema.ACTIONS
    assert set(checks._ACTIONS) == set(keys)
    assert {kind.action for kind in KINDS} == set(typing.get_args(a.Action))


def test_the_rules_that_differ_by_kind() -> None:
    assert ONCE == ("deploy", "rollback")
    assert WINDOWED == ("latency", "errors", "partition", "load")
    assert (
        timeline.CHAOS
        == CHAOS
        == (a.Monkey, a.Gorilla, a.Kong, a.LatencyIncident, a.ErrorIncident, a.Partition)
    )
