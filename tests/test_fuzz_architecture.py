"""Property: whatever bytes or JSON arrive, loading ends in an Architecture or an InputError.

Random JSON, mutated copies of spigo's own files, and corrupted bytes must never escape as any
other exception, and every problem must print as one located line.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanoservices.architecture import Architecture, parse_architecture
from nanoservices.catalog import architectures_dir
from nanoservices.plan import expand, plan_problems
from nanoservices.problems import InputError

SOURCE = "fuzz_arch.json"
ORIGINALS = [json.loads(p.read_text()) for p in sorted(architectures_dir().glob("*_arch.json"))]
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
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Values that look like what spigo expects, so mutations also reach the cross-field rules.
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
)


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


@FAST
@given(json_values)
def test_random_json_only_yields_input_errors(value: Any) -> None:
    outcome(json.dumps(value))


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_only_yield_input_errors(data: bytes) -> None:
    outcome(data)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(ORIGINALS)))
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


@settings(FAST, max_examples=400)
@given(mutated())
def test_mutated_architectures_only_yield_input_errors(document: dict[str, Any]) -> None:
    architecture = outcome(json.dumps(document))
    if architecture is not None:
        plans_or_refuses(architecture)


@FAST
@given(st.sampled_from(ORIGINALS), st.data())
def test_corrupted_text_only_yields_input_errors(document: dict[str, Any], data: st.DataObject) -> None:
    text = bytearray(json.dumps(document).encode())
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


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3000), st.sampled_from("[{"))
def test_deep_nesting_only_yields_input_errors(depth: int, bracket: str) -> None:
    closing = "]" if bracket == "[" else '"x": 1}'
    opening = bracket if bracket == "[" else '{"k": '
    outcome('{"services": ' + opening * depth + "1" + closing * depth + "}")
