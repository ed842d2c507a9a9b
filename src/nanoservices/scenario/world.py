"""What a scenario may name, read off the deployment plan: services, packages, regions, zones."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from nanoservices.geography import ANY, REGIONS
from nanoservices.plan import DeploymentPlan

_LISTED = 12  # names shown in an "unknown X" line before it is cut short


@dataclass(frozen=True)
class World:
    services: dict[str, str]  # service -> the version it starts with
    packages: tuple[str, ...]
    regions: tuple[str, ...]
    zones: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, plan: DeploymentPlan) -> World:
        services: dict[str, str] = {}
        packages: dict[str, None] = {}
        for spec in plan.instances:
            services.setdefault(spec.service, spec.version)
            packages.setdefault(spec.package)
        zones = tuple(dict.fromkeys(plan.zones()))
        regions = tuple(dict.fromkeys(r for r, _ in zones if r != ANY))
        return cls(services, tuple(packages), regions, zones)

    def unknown_service(self, name: str) -> str | None:
        """None if the plan has this service, else the end of a problem line."""
        if name in self.services:
            return None
        if name in self.packages:
            return f"unknown service {name!r}; {name} is a package here: write package: {name}"
        return f"unknown service {name!r}; {_choices(name, list(self.services), 'services')}"

    def unknown_package(self, name: str) -> str | None:
        if name in self.packages:
            return None
        return f"no service here runs package {name!r}; {_choices(name, list(self.packages), 'packages')}"

    def unknown_region(self, name: str) -> str | None:
        if name in self.regions:
            return None
        if name in REGIONS:
            return (
                f"region {name!r} is not in this plan, which has {', '.join(self.regions)}; "
                f"run with --regions {REGIONS.index(name) + 1} or more"
            )
        return f"unknown region {name!r}; {_choices(name, list(self.regions), 'regions in this plan')}"

    def unknown_zone(self, text: str) -> str | None:
        region, _, zone = text.partition("/")
        problem = self.unknown_region(region)
        if problem:
            return problem
        if (region, zone) in self.zones:
            return None
        names = [f"{r}/{z}" for r, z in self.zones if r == region]
        return f"unknown zone {text!r}; {_choices(text, names, 'zones of ' + region)}"


def _choices(name: str, names: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    if close:
        return f"did you mean {close[0]!r}?"
    shown = ", ".join(names[:_LISTED]) + (", ..." if len(names) > _LISTED else "")
    return f"{what}: {shown}" if names else f"there are no {what}"
