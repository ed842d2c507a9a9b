"""spigo's architecture format ("arch-0.0"/"arch-0.1"), read unchanged, validated all at once.

Every problem found is reported together, each with the file and the JSON path of the field,
so a broken file is fixed in one pass. Nothing here raises anything but InputError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from nanoservices.model.behaviour import VersionBehaviour
from nanoservices.model.distributions import ErrorRate
from nanoservices.model.specs import CapacitySpec, Latency, LatencySpec, Rate
from nanoservices.problems import MAX_INPUT_BYTES, InputError, Problem, too_large

CROSS_REGION = "eureka"  # a dependency that is not a service: "register with every region's Eureka"


class Service(BaseModel):
    """One tier. Field names are spigo's; `version`, `latency` and `errors` are nanoservices extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    package: StrictStr
    count: StrictInt = Field(ge=0)  # instances per region before scaling; 0 = one cross-zone instance
    regions: StrictInt = Field(default=0, ge=0)  # 0 = one global instance (DNS); spigo's default
    dependencies: list[StrictStr] | None = None
    machine: StrictStr = ""
    instance: StrictStr = ""
    container: StrictStr = ""
    process: StrictStr = ""
    useCustomGuesstimate: StrictBool = False
    guesstimateType: StrictStr = ""
    guesstimateValue: StrictStr = ""
    # nanoservices extension: the version label instances of this service start with (deploys roll it).
    version: StrictStr = "v1"
    # nanoservices extensions: the service time and error rate of every request it serves, parsed as
    # a scenario's `versions:` profiles are ("20ms", {median, p99}, {p50, p90, p99}; 0.02 or "2%").
    latency: Latency = None
    errors: Rate = None
    # nanoservices extension: workers, queue and service time per instance (docs/architecture-format.md).
    capacity: CapacitySpec | None = None

    def profile(self) -> VersionBehaviour | None:
        """The behaviour its instances start with; None when the file gives none of the fields."""
        if self.latency is None and self.errors is None and self.capacity is None:
            return None
        return VersionBehaviour(
            self.latency.to_model() if self.latency is not None else None,
            ErrorRate(self.errors) if self.errors is not None else None,
            self.capacity.to_capacity() if self.capacity is not None else None,
        )

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Service dependencies, without the special `eureka` marker and empty names."""
        return tuple(d for d in (self.dependencies or ()) if d and d != CROSS_REGION)

    @property
    def cross_region(self) -> bool:
        return CROSS_REGION in (self.dependencies or ())


class Architecture(BaseModel):
    """A whole architecture file. `name` is what instance names start with (spigo's -a value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(default="", exclude=True)
    arch: StrictStr = ""
    version: StrictStr = ""
    description: StrictStr = ""
    args: StrictStr = ""
    date: StrictStr = ""
    victim: StrictStr = ""
    services: list[Service]


def architecture_name(path: Path) -> str:
    """spigo's -a name: `json_arch/lamp_arch.json` is `lamp`."""
    stem = path.stem
    return stem[: -len("_arch")] if stem.endswith("_arch") else stem


def load_architecture(path: Path | str, name: str | None = None) -> Architecture:
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:  # refused before reading: parsing a huge file takes minutes
            raise InputError([Problem(source, "", too_large(size))])
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            [Problem(source, "", "no such file; give a path or a name from `nanoservices list`")]
        ) from None
    except OSError as exc:
        raise InputError([Problem(source, "", f"cannot read: {exc.strerror}")]) from None
    return parse_architecture(text, source, name or architecture_name(path))


def parse_architecture(text: bytes | str, source: str, name: str) -> Architecture:
    document = _parse_json(text, source)
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "null"
        raise InputError(
            [Problem(source, "$", f"expected a JSON object with a 'services' list, got {_json_kind(kind)}")]
        )
    try:
        architecture = Architecture.model_validate({**document, "name": name})
    except ValidationError as exc:
        raise InputError([_pydantic_problem(source, e) for e in exc.errors()]) from None
    problems = semantic_problems(architecture, source)
    if problems:
        raise InputError(problems)
    return architecture


def semantic_problems(architecture: Architecture, source: str) -> list[Problem]:
    """Rules that span fields: unique names, known packages, resolvable dependencies, victim."""
    # Imported here: package modules import the plan, which is built from architectures.
    from nanoservices.packages.base import known_packages

    problems: list[Problem] = []
    packages = known_packages()
    names: dict[str, int] = {}
    if not architecture.services:
        problems.append(Problem(source, "$.services", "no services: add at least one service"))
    for i, service in enumerate(architecture.services):
        where = f"$.services[{i}]"
        if not service.name:
            problems.append(
                Problem(source, f"{where}.name", "empty service name; give the service a unique name")
            )
        elif "." in service.name:
            problems.append(
                Problem(
                    source,
                    f"{where}.name",
                    f"service name {service.name!r} has a dot; rename it (instance names are dot-separated)",
                )
            )
        if service.name in names:
            problems.append(
                Problem(
                    source,
                    f"{where}.name",
                    f"duplicate service name {service.name!r} (first at $.services[{names[service.name]}]); "
                    "rename or remove one",
                )
            )
        else:
            names[service.name] = i
        if service.package not in packages:
            hint = ", ".join(sorted(packages))
            problems.append(
                Problem(
                    source, f"{where}.package", f"unknown package {service.package!r}; known packages: {hint}"
                )
            )
    for i, service in enumerate(architecture.services):
        for j, dep in enumerate(service.dependencies or ()):
            if dep and dep != CROSS_REGION and dep not in names:
                problems.append(
                    Problem(
                        source,
                        f"$.services[{i}].dependencies[{j}]",
                        f"unknown dependency {dep!r} of service {service.name!r}: no service has that name; "
                        "define it or remove the dependency",
                    )
                )
    if architecture.victim and architecture.victim not in names:
        problems.append(
            Problem(
                source,
                "$.victim",
                f"victim {architecture.victim!r} is not a service of this architecture; "
                "name one of its services or leave it empty",
            )
        )
    return problems


def _parse_json(text: bytes | str, source: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                [Problem(source, "", f"not UTF-8 text (byte {exc.start}); an architecture is a JSON file")]
            ) from None
    if not text.strip():
        raise InputError(
            [Problem(source, "", "empty file; an architecture is a JSON object with a 'services' list")]
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        if _looks_like_yaml(text, source):
            message = "architecture files are JSON (spigo's format); this looks like YAML: convert it to JSON"
        else:
            message = f"malformed JSON: {exc.msg}"
        raise InputError([Problem(source, where, message)]) from None
    except RecursionError:
        raise InputError(
            [Problem(source, "", "malformed JSON: nested too deeply; check for unbalanced brackets")]
        ) from None


# A YAML document start, a `key:` mapping line or a `- ` list item; no JSON text begins like that.
_YAML_START = re.compile(r"---|-\s|[A-Za-z_][\w.-]*\s*:(\s|$)")


def _looks_like_yaml(text: str, source: str) -> bool:
    """Why the JSON failed to parse, when the reason is that the file is YAML (JSON is valid YAML,
    so this is asked only of text that is not JSON)."""
    if source.lower().endswith((".yaml", ".yml")):
        return True
    lines = (line.strip() for line in text.splitlines())
    first = next((line for line in lines if line and not line.startswith("#")), "")
    return bool(_YAML_START.match(first))


def _json_kind(python_kind: str) -> str:
    return {
        "list": "an array",
        "str": "a string",
        "int": "a number",
        "float": "a number",
        "bool": "a boolean",
    }.get(python_kind, python_kind)


def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).isidentifier() or str(part).replace("-", "_").isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(str(part))}]"
    return path


_HINTS = {
    "services": "add a 'services' list of objects with name, package and count",
    "name": "add the service's unique name",
    "package": 'add the behaviour, e.g. "karyon"',
    "count": "add instances per region, e.g. 3 (0 gives one cross-zone instance)",
}


def _known_keys(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 3 and loc[2] == "latency":
        return ", ".join(field.alias or key for key, field in LatencySpec.model_fields.items())
    if len(loc) == 4 and loc[2] == "capacity":
        return ", ".join(CapacitySpec.model_fields)
    model = Architecture if len(loc) <= 1 else Service
    return ", ".join(k for k in model.model_fields if k != "name" or model is Service)


def _pydantic_problem(source: str, error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    got = error.get("input")
    if kind == "missing":
        key = str(loc[-1]) if loc else "?"
        message = f"missing required key {key!r}; {_HINTS.get(key, 'add it')}"
    elif kind == "extra_forbidden":
        message = f"unknown key {str(loc[-1])!r}; remove it or use one of: {_known_keys(loc)}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"should be a JSON object, got {_shown(got)}"
    elif kind == "value_error":  # the latency and error parsers' own messages, already with a fix
        message = str(error["ctx"]["error"])
    else:
        message = f"{error['msg'].lower()}, got {_shown(got)}"
    if len(loc) == 4 and loc[2] == "latency" and loc[3] == "fixed":
        loc = loc[:3]  # `"latency": "20ms"` is short for {"fixed": "20ms"}: point at what was written
    return Problem(source, _json_path(loc), message)


def _shown(value: Any) -> str:
    """A short JSON rendering of the offending value, for the error line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."
