"""The request graph of an imported compose file, beyond `depends_on` and `links`: edges read from
environment values and commands, a load generator as the traffic source, and the traffic source
pointed at the front door. Every inference becomes one line saying what was inferred from where."""

from __future__ import annotations

from typing import Any

from nanoservices.compose_refs import hosts, references
from nanoservices.packages.capabilities import stateful
from nanoservices.problems import Problem

STORE = "store"  # the packages an import assigns: a data store, the traffic source
TRAFFIC = "denominator"
TRAFFIC_NAME = "www"


class Inference:
    """Adds the inferred edges and the traffic source(s) to `converted`, noting each in `said`."""

    def __init__(
        self,
        converted: list[dict[str, Any]],
        bodies: dict[str, tuple[Any, str]],
        left_out: set[str],
        said: list[Problem],
        source: str,
    ) -> None:
        self.converted, self.bodies, self.left_out = converted, bodies, left_out
        self.said, self.source = said, source
        self.by_name = {service["name"]: service for service in converted}

    def note(self, where: str, message: str) -> None:
        self.said.append(Problem(self.source, where, message))

    def run(self, roles: dict[str, tuple[str, str]]) -> None:
        loads = [name for name in self.by_name if roles.get(name, ("", ""))[0] == "load"]
        for service in self.converted:  # nothing calls a load generator
            service["dependencies"] = [d for d in service["dependencies"] if d not in loads]
        self.read_references()
        door, why = self.front_door(loads)
        for name in loads:
            service = self.by_name[name]
            service.update(package=TRAFFIC, count=0, regions=0)
            service.pop("container", None)
            if not service["dependencies"]:
                service["dependencies"] = list(door)
            targets = ", ".join(service["dependencies"]) or "nothing"
            where = self.bodies[name][1]
            self.note(where, f"load generator ({roles[name][1]}): the traffic source, calling {targets}")
        if not loads:
            self.converted.append(self.traffic_source(door, why))

    def read_references(self) -> None:
        """Edges from environment values and command arguments that name another service."""
        aliases: dict[str, str] = {}
        for name, (body, _) in self.bodies.items():
            for host in hosts(body):
                aliases.setdefault(host, name)
        for name in self.by_name:
            aliases[name] = name
        for name, (body, where) in self.bodies.items():
            deps = self.by_name[name]["dependencies"]
            for host, key, text in references(body, where):
                target = aliases.get(host)
                if target is None or target == name or target in deps:
                    continue
                if self.reaches(target, name):
                    self.note(key, f"{name} -> {target} from {text!r} not added: it would close a cycle")
                    continue
                deps.append(target)
                self.note(key, f"{name} calls {target} (read from {text!r})")

    def reaches(self, start: str, goal: str) -> bool:
        seen, pending = {start}, [start]
        while pending:
            for dep in self.by_name[pending.pop()]["dependencies"]:
                if dep == goal:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    pending.append(dep)
        return False

    def front_door(self, loads: list[str]) -> tuple[list[str], str]:
        """Where traffic enters: what the load generators call, else the services that publish a
        port (less those another of them calls), else the entry points of the graph."""
        targeted = [dep for name in loads for dep in self.by_name[name]["dependencies"]]
        if targeted:
            return list(dict.fromkeys(targeted)), "a load generator calls it"
        published = [
            name
            for name, (body, _) in self.bodies.items()
            if name not in loads
            and isinstance(body, dict)
            and body.get("ports")
            and not stateful(self.by_name[name]["package"])  # a data store is not a front door
        ]
        called = {dep for name in published for dep in self.by_name[name]["dependencies"]}
        doors = [name for name in published if name not in called]
        if doors:
            return doors, "publishes a port"
        services = [s for s in self.converted if s["name"] not in loads]
        depended_on = {dep for service in services for dep in service["dependencies"]}
        roots = [s["name"] for s in services if s["name"] not in depended_on]
        entries = [s["name"] for s in services if s["name"] in roots and s["dependencies"]]
        if entries:
            return entries, "no service publishes a port; nothing calls it and it calls others"
        return roots, "no service publishes a port; nothing calls it"

    def traffic_source(self, door: list[str], why: str) -> dict[str, Any]:
        name, n = TRAFFIC_NAME, 1
        while name in self.by_name:
            name, n = f"{TRAFFIC_NAME}-{n}", n + 1
        for target in door:
            self.note(self.bodies[target][1], f"{name} (the traffic source) calls {target}: {why}")
        return {"name": name, "package": TRAFFIC, "count": 0, "regions": 0, "dependencies": door}
