"""Where architectures come from: a name in architectures/, a path to a JSON file, or a built-in.

`resolve_plan` is the one entry point the `plan` and `run` commands share, so both accept the
same ARCH values and refuse the same inputs with the same messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nanoservices import builtin
from nanoservices.architecture import Architecture, architecture_name, load_architecture
from nanoservices.plan import DeploymentPlan, expand, plan_problems, planned_instance_count
from nanoservices.problems import InputError, Problem

SUFFIX = "_arch.json"


def architectures_dir() -> Path:
    """The checkout's top-level architectures/ when running from source, else the wheel's copy.

    The checkout wins because an editable install also leaves a packaged snapshot in
    site-packages, which goes stale as soon as a file in the checkout changes.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "architectures").is_dir():
        return checkout / "architectures"
    return Path(str(resources.files("nanoservices") / "architectures"))


def file_names() -> list[str]:
    """Names of the architecture files, as spigo's -a takes them (`lamp` for lamp_arch.json)."""
    directory = architectures_dir()
    if not directory.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}"))


def available_names() -> list[str]:
    return file_names() + list(builtin.BUILTINS)


def is_path(arch: str) -> bool:
    return arch.endswith(".json") or "/" in arch or "\\" in arch or Path(arch).is_file()


def architecture_path(arch: str) -> Path:
    """The file an ARCH value names; an unknown name lists what is available."""
    if is_path(arch):
        return Path(arch)
    path = architectures_dir() / f"{arch}{SUFFIX}"
    if not path.is_file():
        choices = ", ".join(available_names())
        raise InputError(
            [
                Problem(
                    arch, "", f"unknown architecture; use one of: {choices}; or give a path to a .json file"
                )
            ],
        )
    return path


def load(arch: str) -> tuple[Architecture, str]:
    """A file architecture and the source its problems are reported against."""
    path = architecture_path(arch)
    name = architecture_name(path)
    if "." in name or not name:
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    f"the file name gives the architecture name {name!r}, which starts every instance name; "
                    "rename the file to <name>_arch.json with no dot in <name>",
                )
            ]
        )
    return load_architecture(path, name), str(path)


def resolve_plan(arch: str, scale: int = 100, regions: int = 1, step: int = 0) -> DeploymentPlan:
    """What a run of ARCH would deploy. `step` matters only for migration, as spigo's -s."""
    if arch == builtin.FSM:
        return builtin.fsm_plan(scale, regions)
    if arch == builtin.MIGRATION:
        return builtin.migration_plan(step, scale, regions)
    if step:
        message = f"-s/--step applies only to the migration architecture, not {arch!r}; drop it"
        raise InputError([Problem("nanoservices plan", "", message)])
    architecture, source = load(arch)
    return _checked_expand(architecture, scale, regions, source)


def check(arch: str, scale: int = 100, regions: int = 1) -> int:
    """Validate ARCH for these flags without building the plan; returns its instance count."""
    if arch in builtin.BUILTINS:
        return len(resolve_plan(arch, scale, regions).instances)
    architecture, source = load(arch)
    problems = plan_problems(architecture, scale, regions, source)
    if problems:
        raise InputError(problems)
    return planned_instance_count(architecture, scale, regions)


def _checked_expand(architecture: Architecture, scale: int, regions: int, source: str) -> DeploymentPlan:
    """expand(), with refusals reported against the file rather than the architecture's name."""
    problems = plan_problems(architecture, scale, regions, source)
    if problems:
        raise InputError(problems)
    return expand(architecture, scale, regions)


@dataclass(frozen=True)
class ServiceSummary:
    name: str
    package: str
    instances: int


@dataclass(frozen=True)
class Listing:
    """One line of `nanoservices list`: an architecture at 100 % in one region."""

    name: str
    description: str
    services: tuple[ServiceSummary, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def instances(self) -> int:
        return sum(s.instances for s in self.services)


def list_architectures() -> list[Listing]:
    """Every available architecture; a broken file is listed with its problems rather than hidden."""
    listings = []
    for name in available_names():
        try:
            if name in builtin.BUILTINS:
                description, plan = builtin.describe(name), resolve_plan(name)
            else:
                architecture, source = load(name)
                description, plan = architecture.description, _checked_expand(architecture, 100, 1, source)
        except InputError as exc:
            listings.append(Listing(name, "", problems=tuple(exc.problems)))
            continue
        listings.append(Listing(name, description, _summaries(plan)))
    return listings


def _summaries(plan: DeploymentPlan) -> tuple[ServiceSummary, ...]:
    counts = Counter(spec.service for spec in plan.instances)
    packages = {spec.service: spec.package for spec in plan.instances}
    return tuple(ServiceSummary(name, packages[name], n) for name, n in counts.items())
