"""Property: whatever bytes or JSON arrive, loading ends in an Architecture or an InputError.

Random JSON, mutated copies of spigo's own files, and corrupted bytes must never escape as any
other exception, and every problem must print as one located line. The other direction too: every
unmutated file in architectures/ is accepted and expands, so a validator refusing all cannot pass.

How many examples each property gets is the Hypothesis profile's (tests/conftest.py): a fixed set
under `ci`, 20,000 fresh ones each under `fuzz` (`make fuzz`). Strategies must hand out fresh
values: a shared list that a mutation appends to changes the strategy between examples.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanoservices.architecture import Architecture, architecture_name, parse_architecture
from nanoservices.catalog import architectures_dir
from nanoservices.plan import expand, plan_problems, planned_instance_count
from nanoservices.problems import InputError

SOURCE = "fuzz_arch.json"
ARCH_FILES = sorted(architectures_dir().glob("*_arch.json"))
# As text (immutable): each draw parses its own fresh document.
ORIGINAL_TEXTS = tuple(json.dumps(json.loads(p.read_text())) for p in ARCH_FILES)
FIELDS = [
    "name",
    "package",
    "count",
    "regions",
    "dependencies",
    "version",
    "machine",
    "victim",
    "services",
    "arch",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Values that look like what spigo expects, so mutations also reach the cross-field rules. Copied
# on every draw: a drawn list becomes `services`, which a later "duplicate" step appends to.
plausible = st.sampled_from(
    [
        "store",
        "karyon",
        "eureka",
        "a.b",
        "",
        "www",
        "cassSubscriber",
        0,
        1,
        3,
        -1,
        None,
        [],
        ["www"],
        ["eureka"],
    ]
).map(copy.deepcopy)


def outcome(text: str | bytes) -> Architecture | None:
    """Load; on refusal check the problem lines. Any other exception fails the test."""
    try:
        architecture = parse_architecture(text, SOURCE, "fuzz")
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            line = str(problem)
            assert line.startswith(f"{SOURCE}: ")
            assert "\n" not in line
        return None
    return architecture


def plans_or_refuses(architecture: Architecture) -> None:
    """An accepted architecture must expand, or be refused by the plan checks, at small flags."""
    for scale, regions in ((100, 1), (7, 2)):
        if plan_problems(architecture, scale, regions, SOURCE):
            continue
        plan = expand(architecture, scale, regions)
        assert len({s.name for s in plan.instances}) == len(plan.instances)


@given(json_values)
def test_random_json_only_yields_input_errors(value: Any) -> None:
    outcome(json.dumps(value))


@given(st.binary(max_size=300))
def test_random_bytes_only_yield_input_errors(data: bytes) -> None:
    outcome(data)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = json.loads(draw(st.sampled_from(ORIGINAL_TEXTS)))
    for _ in range(draw(st.integers(1, 4))):
        services = document.get("services")
        target = document
        if isinstance(services, list) and services and draw(st.booleans()):
            index = draw(st.integers(0, len(services) - 1))
            target = services[index] if isinstance(services[index], dict) else document
        action = draw(st.sampled_from(["set", "delete", "duplicate", "random"]))
        key = draw(st.sampled_from(FIELDS))
        if action == "delete":
            target.pop(key, None)
        elif action == "duplicate" and isinstance(services, list) and services:
            services.append(copy.deepcopy(draw(st.sampled_from(services))))
        elif action == "random":
            target[key] = draw(json_values)
        else:
            target[key] = draw(plausible)
    return document


@given(mutated())
def test_mutated_architectures_only_yield_input_errors(document: dict[str, Any]) -> None:
    architecture = outcome(json.dumps(document))
    if architecture is not None:
        plans_or_refuses(architecture)


@given(st.sampled_from(ORIGINAL_TEXTS), st.data())
def test_corrupted_text_only_yields_input_errors(original: str, data: st.DataObject) -> None:
    text = bytearray(original.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text) - 1))
        change = data.draw(st.sampled_from(["drop", "replace", "insert"]))
        if change == "drop":
            del text[at]
        elif change == "replace":
            text[at] = data.draw(st.integers(0, 255))
        else:
            text[at:at] = data.draw(st.sampled_from([b"[", b"{", b'"', b",", b"-", b"\x00", b"\xc3"]))
    outcome(bytes(text))


@given(st.integers(1, 3000), st.sampled_from("[{"))
def test_deep_nesting_only_yields_input_errors(depth: int, bracket: str) -> None:
    closing = "]" if bracket == "[" else '"x": 1}'
    opening = bracket if bracket == "[" else '{"k": '
    outcome('{"services": ' + opening * depth + "1" + closing * depth + "}")


def test_the_shipped_architectures_are_all_here() -> None:
    """The parametrised test below must not pass by running over nothing."""
    names = {p.name for p in ARCH_FILES}
    assert {"lamp_arch.json", "netflixoss_arch.json", "cassandra_arch.json"} <= names
    assert len(ORIGINAL_TEXTS) == len(ARCH_FILES)


@pytest.mark.parametrize("path", ARCH_FILES, ids=lambda p: p.name)
def test_every_shipped_architecture_is_accepted_and_expands(path: Path) -> None:
    services = [s["name"] for s in json.loads(path.read_text())["services"]]
    architecture = parse_architecture(path.read_bytes(), path.name, architecture_name(path))
    assert [s.name for s in architecture.services] == services
    for scale, regions in ((100, 1), (7, 2)):
        assert plan_problems(architecture, scale, regions, path.name) == []
        plan = expand(architecture, scale, regions)
        names = [s.name for s in plan.instances]
        assert len(set(names)) == len(names) == planned_instance_count(architecture, scale, regions)
        assert {s.service for s in plan.instances} == set(services)
