"""The table of action kinds (scenario/kinds.py) is the one list: every kind has its schema field,
its checker, its action type, its runner and its events, every layer reads them from the table,
and nothing else is a kind. Adding a kind without its row, or a row without its field, checker,
runner or sample here, fails a test."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import typing
from unittest import mock

import pytest

from nanoservices.catalog import resolve_plan
from nanoservices.plan import DeploymentPlan
from nanoservices.scenario import actions as a
from nanoservices.scenario import checks, schema, simian, timeline
from nanoservices.scenario.asgard import Asgard
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.kinds import BY_KEY, CHAOS, KINDS, ONCE, WINDOWED, of
from nanoservices.scenario.validate import parse_scenario

# One valid entry per kind, on netflixoss in two regions (kong takes a whole one).
SAMPLES = {
    "deploy": "at: 2s\n    deploy: {service: homepage, version: v2}",
    "rollback": "at: 9s\n    rollback: homepage",
    "monkey": "at: 3s\n    monkey: homepage",
    "gorilla": "at: 3s\n    for: 2s\n    gorilla: us-east-1/zoneB",
    "kong": "at: 3s\n    for: 2s\n    kong: us-west-2",
    "latency": "at: 3s\n    for: 2s\n    latency: {service: homepage, add: 20ms}",
    "errors": "at: 3s\n    for: 2s\n    errors: {service: homepage, rate: 0.1}",
    "partition": "at: 3s\n    for: 2s\n    partition: [us-east-1/zoneA, us-east-1/zoneC]",
    "load": "at: 3s\n    for: 2s\n    load: {service: www, burst: 300}",
}
# Events no timeline action emits: the hosts' breakers and the simulator's own lag.
NOT_FROM_ACTIONS = {
    EventKind.BREAKER_OPEN, EventKind.BREAKER_HALF_OPEN, EventKind.BREAKER_CLOSED,
    EventKind.SIMULATOR_LAG_START, EventKind.SIMULATOR_LAG_END,
}  # fmt: skip


@pytest.fixture(scope="module")
def plan() -> DeploymentPlan:
    return resolve_plan("netflixoss", 100, 2)


def sample(key: str, plan: DeploymentPlan) -> a.Action:
    """The kind's sample entry through the whole scenario check (deploy first for a rollback)."""
    entries = ([SAMPLES["deploy"]] if key == "rollback" else []) + [SAMPLES[key]]
    text = "timeline:\n" + "".join(f"  - {entry}\n" for entry in entries)
    return parse_scenario(text, "kinds.yaml", plan, 20.0).actions[-1]


def test_every_kind_has_its_field_and_action_and_nothing_else_is_one() -> None:
    keys = [kind.key for kind in KINDS]
    fields = {info.alias or name for name, info in schema.EntrySpec.model_fields.items()}
    when = {"at", "every", "from", "until", "for"}
    assert fields - when == set(keys) and tuple(keys) == schema.ACTIONS
    assert [kind.action for kind in KINDS] == list(typing.get_args(a.Action))
    assert set(SAMPLES) == set(keys)  # a new kind needs its sample here


@pytest.mark.parametrize("key", list(BY_KEY))
def test_the_checker_of_the_row_makes_the_rows_action(key: str, plan: DeploymentPlan) -> None:
    kind = BY_KEY[key]
    spy = mock.Mock(wraps=kind.checker)
    with mock.patch.dict(BY_KEY, {key: dataclasses.replace(kind, checker=spy)}):
        action = sample(key, plan)
    assert type(action) is kind.action and of(action) is kind
    assert spy.call_count == 1  # checks.py asked the table, not a list of its own
    assert not hasattr(checks, "_ACTIONS")


def test_every_runner_and_ender_is_a_coroutine_of_its_layer() -> None:
    for kind in KINDS:
        layer = simian.Simian if kind.chaos else timeline.Steps
        for name in filter(None, (kind.runner, kind.ender)):
            assert inspect.iscoroutinefunction(getattr(layer, name, None)), (kind.key, name)
    incident_kinds = {kind.key for kind in KINDS if kind.runner == "incident_start"}
    assert set(simian.EFFECTS) == incident_kinds  # each incident says what it does to a profile


class Clock:
    """The least of a Fleet the timeline's own runners use: a clock and the events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def now(self) -> float:
        return 5.0

    def emit(self, event: Event) -> None:
        self.events.append(event)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_the_timeline_runs_each_kind_by_its_rows_runner_and_ender(key: str, plan: DeploymentPlan) -> None:
    kind = BY_KEY[key]
    action = sample(key, plan)
    army = mock.create_autospec(simian.Simian, instance=True)
    asgard = mock.create_autospec(Asgard, instance=True)
    clock = Clock()
    steps = timeline.Steps(asgard, clock, army)  # type: ignore[arg-type]
    ends = [s for s in timeline.steps(a.Scenario(20.0, (action,))) if isinstance(s, timeline.End)]
    assert len(ends) == (1 if kind.ender else 0)

    async def run() -> None:
        await steps.run(action)
        for end in ends:
            await steps.run(end)
        await asyncio.gather(*steps.running.values())

    asyncio.run(run())
    if kind.chaos:
        called = [name for name, *_ in army.method_calls]
        assert called == [n for n in (kind.runner, kind.ender) if n]
        assert all(call.args == (action,) for call in army.method_calls)
    elif key in ("deploy", "rollback"):
        getattr(asgard, key).assert_awaited_once()
    else:
        assert [e.kind for e in clock.events] == list(kind.events)
    with (
        pytest.raises(RuntimeError, match="needs a runtime with chaos")
        if kind.chaos
        else contextlib.nullcontext()
    ):
        asyncio.run(timeline.Steps(asgard, clock, None).run(action))  # type: ignore[arg-type]


def test_every_event_of_an_action_belongs_to_a_kind() -> None:
    emitted = {event for kind in KINDS for event in kind.events}
    assert emitted | NOT_FROM_ACTIONS == set(EventKind) and not emitted & NOT_FROM_ACTIONS


def test_the_rules_that_differ_by_kind() -> None:
    assert ONCE == ("deploy", "rollback")
    assert WINDOWED == ("gorilla", "kong", "latency", "errors", "partition", "load")
    assert (
        timeline.CHAOS
        == CHAOS
        == (a.Monkey, a.Gorilla, a.Kong, a.LatencyIncident, a.ErrorIncident, a.Partition)
    )
    assert [kind.key for kind in KINDS if kind.incident] == ["latency", "errors", "partition"]
