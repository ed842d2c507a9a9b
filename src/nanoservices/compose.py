"""docker-compose files (v1, v2, v3 and the version-less compose spec) as spigo architectures.

spigo's compose2arch did this for one demo; this version reads any compose file a user has,
guesses each service's behaviour from its image, and adds a denominator so the result runs and
generates traffic. Every problem in the file is reported together, located by its YAML key path.
Edges beyond depends_on/links, observability left out, and the traffic source at the front door
come from compose_refs.py (reading) and compose_graph.py (the graph), each inference one note.

Application services become `monolith` (spigo's choice), proxies `elb`: both forward to any zone.
The zone-local karyon and zuul would leave every replica outside the zone of a single-instance
dependency (the usual compose database) without a route: as karyon, 21 of 90 requests of the
voting and shop test files failed in-process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from nanoservices.architecture import CROSS_REGION, parse_architecture
from nanoservices.compose_graph import STORE, TRAFFIC, TRAFFIC_NAME, Inference
from nanoservices.compose_refs import role
from nanoservices.problems import MAX_INPUT_BYTES, InputError, Problem, too_large

PROXY = "elb"
APP = "monolith"
__all__ = ["STORE", "TRAFFIC", "TRAFFIC_NAME", "convert_compose", "guess_package", "load_compose", "to_json"]

# Image names (any path component, tag removed) that are databases, caches or brokers: endpoints.
STORE_IMAGES = frozenset({
    "postgres", "postgresql", "postgis", "timescaledb", "mysql", "mariadb", "percona", "percona-server",
    "mongo", "mongodb", "redis", "redis-stack-server", "valkey", "keydb", "memcached", "cassandra", "scylla",
    "elasticsearch", "opensearch", "couchdb", "couchbase", "neo4j", "influxdb", "rethinkdb", "cockroach",
    "mssql", "clickhouse-server", "etcd", "zookeeper", "cp-zookeeper", "kafka", "cp-kafka", "rabbitmq",
    "nats", "minio", "dynamodb-local",
})  # fmt: skip
# Reverse proxies and load balancers: they forward every request to one of their dependencies.
PROXY_IMAGES = frozenset({
    "nginx", "nginx-unprivileged", "nginx-proxy", "openresty", "haproxy", "traefik", "envoy", "caddy",
    "httpd", "kong", "varnish",
})  # fmt: skip
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
MAX_REPLICAS = 10_000  # instances of one service: more would not fit one machine


def load_compose(path: Path | str, name: str | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """The architecture document for a compose file; `name` defaults to the file's stem. Each
    inference (an edge read from an environment value, a service left out) is appended to `notes`."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError([Problem(source, "", too_large(size))])
        text = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            [Problem(source, "", "no such file; give the path of a docker-compose file")]
        ) from None
    except OSError as exc:
        raise InputError([Problem(source, "", f"cannot read: {exc.strerror}")]) from None
    return convert_compose(text, source, name or path.stem, notes)


def convert_compose(
    text: bytes | str, source: str, name: str, notes: list[str] | None = None
) -> dict[str, Any]:
    """Compose YAML to a validated architecture document (a dict that json.dumps writes as spigo's)."""
    services, root = _services_mapping(_parse_yaml(text, source), source)
    reader = _Reader(source)
    roles = {str(svc): role(str(svc), body) for svc, body in services.items()}
    left_out = {svc for svc, (kind, _) in roles.items() if kind == "observability"}
    bodies = {
        str(svc): (body, f"{root}{_key(svc)}") for svc, body in services.items() if str(svc) not in left_out
    }
    if not bodies:
        names = ", ".join(sorted(left_out))
        message = (
            f"every service ({names}) is observability tooling, left out of requests; nothing to simulate"
        )
        raise InputError([Problem(source, root, message)])
    converted = [reader.service(svc, body, where) for svc, (body, where) in bodies.items()]
    known = {service["name"] for service in converted}
    for service in converted:
        for dep, where in service.pop("_deps"):
            if dep in left_out:
                continue
            if dep not in known:
                top = "'services'" if root == "$.services" else "the top level"
                reader.bad(where, f"unknown service {dep!r}; define it under {top} or remove this dependency")
            elif dep not in service["dependencies"]:
                service["dependencies"].append(dep)
    reader.problems.extend(_cycle_problems(converted, root, source))
    if reader.problems:
        raise InputError(reader.problems)
    said: list[Problem] = []
    for svc in sorted(left_out, key=list(roles).index):
        where = f"{root}{_key(svc)}"
        said.append(Problem(source, where, f"observability ({roles[svc][1]}): left out of the request graph"))
    Inference(converted, bodies, left_out, said, source).run(roles)
    if notes is not None:
        notes.extend(str(note) for note in said)
    architecture = {
        "arch": name,
        "version": "arch-0.1",
        "description": f"imported from docker-compose file {Path(source).name}",
        "args": f"[nanoservices import-compose {source}]",
        "services": converted,
    }
    parse_architecture(json.dumps(architecture), source, name)  # our output must be a valid file
    return architecture


def to_json(architecture: dict[str, Any]) -> str:
    return json.dumps(architecture, indent=4) + "\n"


def guess_package(image: str) -> str:
    """store for databases, elb for proxies, monolith for the rest, judged by the image's name."""
    without_digest = image.split("@", 1)[0]
    parts = without_digest.lower().split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host, not a name
    parts[-1] = parts[-1].split(":", 1)[0]
    if any(part in STORE_IMAGES for part in parts):
        return STORE
    if any(part in PROXY_IMAGES for part in parts):
        return PROXY
    return APP


def _parse_yaml(text: bytes | str, source: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                [Problem(source, "", f"not UTF-8 text (byte {exc.start}); a compose file is YAML text")]
            ) from None
    if not text.strip():
        raise InputError(
            [Problem(source, "", "empty file; a compose file is a YAML mapping with 'services'")]
        )
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InputError(
            [Problem(source, where, f"malformed YAML: {exc.problem}; check the indentation and quoting")]
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise InputError([Problem(source, "", f"malformed YAML: {exc}")]) from None


def _services_mapping(document: Any, source: str) -> tuple[dict[Any, Any], str]:
    """The services and the path prefix of their keys: `$.services` (v2, v3, spec) or `$` (v1)."""
    if not isinstance(document, dict):
        raise InputError(
            [Problem(source, "$", f"expected a YAML mapping of services, got {_kind(document)}")]
        )
    if "services" in document:
        services, root = document["services"], "$.services"
    elif "version" in document:
        version = document["version"]
        raise InputError(
            [
                Problem(
                    source,
                    "$.services",
                    f"version {version} file without 'services'; add a 'services' mapping",
                )
            ]
        )
    else:
        services, root = document, "$"  # v1: every top-level key is a service
    if not isinstance(services, dict) or not services:
        got = "an empty mapping" if isinstance(services, dict) else _kind(services)
        raise InputError(
            [Problem(source, root, f"expected a mapping of service names to definitions, got {got}")]
        )
    return services, root


class _Reader:
    """Reads service definitions, collecting every problem rather than stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message))

    def service(self, name: Any, body: Any, where: str) -> dict[str, Any]:
        """One compose service as an architecture service; its unchecked dependencies go in `_deps`."""
        service: dict[str, Any] = {"name": str(name), "package": APP, "count": 1, "regions": 1}
        service["dependencies"], service["_deps"] = [], []
        self.check_name(name, where)
        if not isinstance(body, dict):
            self.bad(where, f"expected a mapping (image, build, depends_on, ...), got {_kind(body)}")
            return service
        image, build = body.get("image"), body.get("build")
        if image is not None and not isinstance(image, str):
            self.bad(f"{where}.image", f"expected an image name, got {_kind(image)}")
        if image is None and build is None:
            self.bad(where, "neither 'image' nor 'build'; add one of them")
        if isinstance(image, str) and build is None:
            service["package"] = guess_package(image)
        container = _build_context(build) if build is not None else image
        if isinstance(container, str) and container:
            service["container"] = container
        service["count"] = self.count(body, where)
        service["_deps"] = [*self.links(body, where), *self.depends_on(body, where)]
        return service

    def check_name(self, name: Any, where: str) -> None:
        if not isinstance(name, str) or not name:
            self.bad(where, f"service name {_shown(name)} is not text; quote it or rename the service")
        elif "." in name:
            fixed = name.replace(".", "-")
            self.bad(
                where,
                f"service name {name!r} has a dot (instance names are dot-separated); "
                f"rename it, e.g. to {fixed!r}",
            )
        elif name == CROSS_REGION:
            self.bad(
                where,
                f"service name {name!r} is reserved (the format's cross-region marker); "
                "rename it, e.g. to 'eureka-server'",
            )

    def count(self, body: dict[Any, Any], where: str) -> int:
        """deploy.replicas (v3), else scale (v2), else 1."""
        deploy = body.get("deploy")
        if deploy is not None and not isinstance(deploy, dict):
            self.bad(f"{where}.deploy", f"expected a mapping, got {_kind(deploy)}")
            deploy = None
        if deploy is not None and "replicas" in deploy:
            value, key = deploy["replicas"], f"{where}.deploy.replicas"
        elif "scale" in body:
            value, key = body["scale"], f"{where}.scale"
        else:
            return 1
        if not isinstance(value, int) or isinstance(value, bool):
            self.bad(key, f"expected a whole number of instances, got {_shown(value)}; write e.g. 3")
        elif value < 1:
            self.bad(
                key, f"needs at least 1 instance to simulate, got {value}; raise it or remove the service"
            )
        elif value > MAX_REPLICAS:
            self.bad(
                key, f"{value:,} instances is more than the {MAX_REPLICAS:,} a service may have; lower it"
            )
        else:
            return value
        return 1

    def links(self, body: dict[Any, Any], where: str) -> Iterator[tuple[str, str]]:
        """(service, key path) of each link, "service" or "service:alias" (v1, v2)."""
        links = body.get("links")
        if links is None:
            return
        if not isinstance(links, list):
            self.bad(f"{where}.links", f"expected a list of service names, got {_kind(links)}")
            return
        for i, link in enumerate(links):
            target = link.split(":", 1)[0] if isinstance(link, str) else ""
            if target:
                yield target, f"{where}.links[{i}]"
            else:
                self.bad(f"{where}.links[{i}]", f'expected "service" or "service:alias", got {_shown(link)}')

    def depends_on(self, body: dict[Any, Any], where: str) -> Iterator[tuple[str, str]]:
        """(service, key path) of each depends_on entry: a list, or a mapping to conditions (v2.1+, v3)."""
        depends_on = body.get("depends_on")
        if isinstance(depends_on, dict):
            for dep in depends_on:  # the conditions (service_healthy, ...) do not matter to a simulation
                yield str(dep), f"{where}.depends_on{_key(dep)}"
        elif isinstance(depends_on, list):
            for i, dep in enumerate(depends_on):
                if isinstance(dep, str) and dep:
                    yield dep, f"{where}.depends_on[{i}]"
                else:
                    self.bad(f"{where}.depends_on[{i}]", f"expected a service name, got {_shown(dep)}")
        elif depends_on is not None:
            self.bad(
                f"{where}.depends_on",
                "expected a list of service names or a mapping of them to "
                f"conditions, got {_kind(depends_on)}",
            )


def _build_context(build: Any) -> str:
    if isinstance(build, dict):
        context = build.get("context", ".")
        return context if isinstance(context, str) else ""
    return build if isinstance(build, str) else ""


def _cycle_problems(converted: list[dict[str, Any]], root: str, source: str) -> list[Problem]:
    """docker compose refuses circular dependencies; so do we: forwarding would loop until timeout."""
    graph = {service["name"]: service["dependencies"] for service in converted}
    done: set[str] = set()
    problems: list[Problem] = []
    for start in graph:
        if start in done:
            continue
        path, pending = [start], [iter(graph[start])]  # depth-first without recursion
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                done.add(path.pop())
                pending.pop()
            elif dep in path:
                cycle = " -> ".join([*path[path.index(dep) :], dep])
                fix = f"remove {path[-1]!r}'s link or depends_on on {dep!r}"
                problems.append(
                    Problem(source, f"{root}{_key(path[-1])}", f"circular dependency {cycle}; {fix}")
                )
            elif dep not in done:
                path.append(dep)
                pending.append(iter(graph[dep]))
    return problems


def _key(name: Any) -> str:
    text = str(name)
    return f".{text}" if _KEY.match(text) else f"[{json.dumps(text)}]"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {
        dict: "a mapping",
        list: "a list",
        str: f"the string {_shown(value)}",
        bool: f"{value}".lower(),
        int: f"the number {value}",
        float: f"the number {value}",
    }.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."
