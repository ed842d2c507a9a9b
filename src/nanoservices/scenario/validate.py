"""Loading a scenario file: every problem at once, one line each, naming the key and the fix.

Shape errors come from pydantic, translated into the house style; the rules that need the plan,
the run's duration or several entries come from `checks.py`. Each timeline entry and version
profile is validated on its own, so the semantic checks still run for the entries that are fine.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nanoservices.model.quantities import shown
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import MAX_INPUT_BYTES, InputError, Problem, too_large
from nanoservices.scenario.actions import Scenario
from nanoservices.scenario.capacity_keys import with_capacities
from nanoservices.scenario.checks import Checked, build, json_path
from nanoservices.scenario.document import parse_document
from nanoservices.scenario.schema import CapacitySpec, EntrySpec, FileSpec, VersionProfile

Loc = tuple[int | str, ...]

_HINTS = {
    "service": "name the service, e.g. service: homepage",
    "version": "name the new version, e.g. version: v2",
    "add": "give the added latency, e.g. add: 200ms",
    "rate": "give the error rate, e.g. rate: 0.3",
}


def load_scenario(path: Path | str, plan: DeploymentPlan, duration: float) -> Scenario:
    """The scenario in `path`, checked against `plan` for a run of `duration` seconds."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:  # refused before reading: a 50 MB file took 25 s to load
            raise InputError([Problem(str(path), "", too_large(size))])
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(str(path), "", "no such file; give the path of a scenario file")]) from None
    except OSError as exc:
        raise InputError([Problem(str(path), "", f"cannot read: {exc.strerror}")]) from None
    return parse_scenario(text, str(path), plan, duration, json_only=path.suffix.lower() == ".json")


def parse_scenario(
    text: bytes | str, source: str, plan: DeploymentPlan, duration: float, json_only: bool = False
) -> Scenario:
    if not duration > 0:
        raise InputError(
            [Problem("--duration", "", f"a scenario needs a run longer than 0s, got {duration:g}s")]
        )
    document = parse_document(text, source, json_only)
    if not isinstance(document, dict):
        raise InputError(
            [Problem(source, "$", f"expected a mapping with a timeline: list, got {_kind(document)}")]
        )
    try:
        top = FileSpec.model_validate(document)
    except ValidationError as exc:
        raise InputError([_problem(source, FileSpec, (), e) for e in exc.errors()]) from None
    problems: list[Problem] = []
    entries = [
        _validated(EntrySpec, raw, ("timeline", i), source, problems) for i, raw in enumerate(top.timeline)
    ]
    profiles = {
        key: _validated(VersionProfile, raw, ("versions", key), source, problems)
        for key, raw in top.versions.items()
    }
    if top.capacity:  # top-level capacity: per service (its starting version) or service@version
        capacities = {
            key: _validated(CapacitySpec, raw, ("capacity", key), source, problems)
            for key, raw in top.capacity.items()
        }
        profiles = with_capacities(capacities, profiles, plan, source, problems)
    checked = Checked(source=source, plan=plan, duration=duration, raw_entries=top.timeline)
    scenario = build(checked, entries, profiles)
    problems += checked.problems
    if problems:
        raise InputError(problems)
    assert scenario is not None
    return scenario


def _validated(model: type[BaseModel], raw: Any, prefix: Loc, source: str, problems: list[Problem]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problem(source, model, prefix, e) for e in exc.errors())
        return None


def _problem(source: str, root: type[BaseModel], prefix: Loc, error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind, got = error["type"], error.get("input")
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        message = f"key {shown(loc[-1] if loc else got)} should be text"
    elif kind == "missing":
        key = str(loc[-1]) if loc else "?"
        message = f"missing required key {key!r}; {_HINTS.get(key, 'add it')}"
    elif kind == "extra_forbidden":
        keys = ", ".join(_keys(_model_at(root, loc[:-1])))
        message = f"unknown key {str(loc[-1])!r}; remove it or use one of: {keys}"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"should be a mapping (key: value), got {_kind(got)}"
    elif kind == "list_type":
        message = f"should be a list, got {_kind(got)}"
    else:
        message = f"{error['msg'].lower()}, got {shown(got)}"
    return Problem(source, json_path(prefix + loc), message)


def _keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model whose keys apply at `loc` (field names, list indexes and dict keys)."""
    model: type[BaseModel] | None = root
    skip = 0
    for part in loc:
        if skip:
            skip -= 1
            continue
        if model is None:
            return None
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        if part not in fields:
            return None
        model, skip = _inner_model(fields[str(part)].annotation)
    return model


def _inner_model(annotation: Any) -> tuple[type[BaseModel] | None, int]:
    """The model inside an annotation and how many containers (list, dict) wrap it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, 0
    wraps = 1 if typing.get_origin(annotation) in (list, dict) else 0
    for arg in typing.get_args(annotation):
        model, depth = _inner_model(arg)
        if model is not None:
            return model, depth + wraps
    return None, 0


def _kind(value: object) -> str:
    return {
        "list": "a list",
        "str": "text",
        "int": "a number",
        "float": "a number",
        "bool": "a boolean",
        "NoneType": "nothing",
        "dict": "a mapping",
    }.get(type(value).__name__, type(value).__name__)
