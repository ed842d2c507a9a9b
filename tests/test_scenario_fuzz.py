"""Property: whatever a scenario file holds, loading ends in a Scenario or an InputError.

Random documents, mutated copies of the shipped examples and corrupted YAML text must never escape
as another exception, and every problem must print as one located line. Strategies build fresh
objects every time (no list or dict shared between examples), so a mutation cannot leak.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanoservices.catalog import architectures_dir, resolve_plan
from nanoservices.problems import InputError
from nanoservices.scenario import Scenario, parse_scenario

SOURCE = "fuzz.yaml"
PLAN = resolve_plan("netflixoss", 100, 2)
TEXTS = [p.read_text() for p in sorted((architectures_dir() / "scenarios").glob("*.yaml"))]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "at",
    "every",
    "from",
    "until",
    "for",
    "deploy",
    "rollback",
    "monkey",
    "gorilla",
    "kong",
    "latency",
    "errors",
    "partition",
    "service",
    "package",
    "version",
    "strategy",
    "share",
    "steps",
    "judge",
    "keep",
    "after",
    "interval",
    "add",
    "rate",
    "median",
    "p99",
    "p50",
    "min",
    "max",
    "mean",
    "stddev",
    "versions",
    "timeline",
    "homepage@v2",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(
        [
            "5s",
            "200ms",
            "-1s",
            "1e400",
            "nan",
            "10%",
            "150%",
            "0%",
            "homepage",
            "staash",
            "karyon",
            "v2",
            "canary",
            "rolling",
            "redblack",
            "highlander",
            "bluegreen",
            "us-east-1/zoneB",
            "us-west-2",
            "eu-west-1",
            "us-east-1/zoneD",
            "0.3",
            "1ns",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)


def outcome(text: str | bytes, duration: float = 30.0) -> Scenario | None:
    try:
        scenario = parse_scenario(text, SOURCE, PLAN, duration)
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            line = str(problem)
            assert line.startswith(f"{SOURCE}: ") and "\n" not in line, line
        return None
    assert all(0 <= a.at < duration for a in scenario.actions)
    assert [a.at for a in scenario.actions] == sorted(a.at for a in scenario.actions)
    return scenario


@FAST
@given(values)
def test_random_documents_only_yield_input_errors(document: Any) -> None:
    outcome(yaml.safe_dump(document))


@FAST
@given(st.dictionaries(st.sampled_from(["versions", "timeline"]), values, max_size=2))
def test_random_top_levels_only_yield_input_errors(document: dict[str, Any]) -> None:
    outcome(yaml.safe_dump(document))


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = yaml.safe_load(draw(st.sampled_from(TEXTS)))  # parsed afresh: nothing shared between examples
    for _ in range(draw(st.integers(1, 4))):
        timeline = document.get("timeline")
        target: Any = document
        if isinstance(timeline, list) and timeline and draw(st.booleans()):
            entry = timeline[draw(st.integers(0, len(timeline) - 1))]
            target = entry if isinstance(entry, dict) else document
            inner = [v for v in target.values() if isinstance(v, dict)]
            if inner and draw(st.booleans()):
                target = draw(st.sampled_from(inner))
        action = draw(st.sampled_from(["set", "delete", "duplicate"]))
        key = draw(st.sampled_from(KEYS))
        if action == "delete" and target:
            target.pop(draw(st.sampled_from(sorted(target, key=str))), None)
        elif action == "duplicate" and isinstance(timeline, list) and timeline:
            timeline.append(copy.deepcopy(draw(st.sampled_from(timeline))))
        else:
            target[key] = draw(values)
    return document


@settings(FAST, max_examples=300)
@given(mutated(), st.sampled_from([0.5, 10.0, 30.0, 3600.0]))
def test_mutated_examples_only_yield_input_errors(document: dict[str, Any], duration: float) -> None:
    outcome(yaml.safe_dump(document), duration)


@FAST
@given(st.sampled_from(TEXTS), st.data())
def test_corrupted_text_only_yields_input_errors(text: str, data: st.DataObject) -> None:
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        change = data.draw(st.sampled_from(["drop", "replace", "insert"]))
        byte = data.draw(
            st.sampled_from([*list(b"{}[]:,-&*!|>'\"#%@ \n\t\x00\xff"), data.draw(st.integers(0, 255))])
        )
        if change == "drop":
            del raw[at]
        elif change == "replace":
            raw[at] = byte
        else:
            raw.insert(at, byte)
    outcome(bytes(raw))


def test_the_unmutated_examples_load() -> None:
    assert all(outcome(text) is not None for text in TEXTS)
