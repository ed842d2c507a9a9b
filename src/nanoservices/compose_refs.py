"""What a compose file says about who calls whom, beyond `depends_on` and `links`.

Real compose files often carry their request graph elsewhere: environment values
(`MONGO_HOST=user-db:27017`, `CART_ADDR=cart:7070`, `DATABASE_URL=postgres://u:p@db/app`) and
command arguments (`--db-host=user-db`, `-h edge-router`). They also hold services that take no part
in requests: tracing and metrics infrastructure (every service "depends on" the collector), admin
UIs, and a load generator, which is the traffic source rather than a service. This module reads
those; compose.py builds the architecture from what it finds and prints each inference.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

# Images (any path component, tag removed) and service names of observability and admin tooling:
# they receive telemetry or serve operators, not the application's requests.
OBSERVABILITY = frozenset({
    "jaeger", "all-in-one", "jaeger-agent", "jaeger-collector", "jaeger-query", "zipkin", "zipkin-slim",
    "otel-collector", "opentelemetry-collector", "opentelemetry-collector-contrib", "otelcol",
    "otelcol-contrib", "prometheus", "pushgateway", "alertmanager", "node-exporter", "cadvisor", "grafana",
    "loki", "promtail", "tempo", "mimir", "jaegertracing", "openzipkin", "datadog", "dd-agent",
    "newrelic-infra", "apm-server", "kibana", "logstash", "fluentd", "fluent-bit", "filebeat",
    "metricbeat", "statsd", "graphite", "telegraf", "chronograf", "kapacitor", "signoz", "uptrace",
    "visualizer", "portainer", "adminer", "phpmyadmin", "pgadmin4", "mongo-express", "redis-commander",
    "kafka-ui", "kafdrop", "redisinsight", "weave-scope", "dozzle",
})  # fmt: skip
# Load generators: a service running one of these is the run's traffic source.
LOAD_IMAGES = frozenset({
    "locust", "locustio", "k6", "wrk", "wrk2", "vegeta", "hey", "ab", "jmeter", "gatling", "artillery",
    "loadgenerator", "load-generator", "loadgen", "load-test", "loadtest", "user-sim", "locust-master",
})  # fmt: skip
LOAD_NAMES = frozenset(
    {"load-generator", "loadgenerator", "loadgen", "load-test", "loadtest", "locust", "k6"}
)
# Variables whose plain value (no port, no scheme) names a host.
_HOST_KEY = re.compile(
    r"(HOST|HOSTNAME|ADDR|ADDRESS|URL|URI|ENDPOINT|SERVER|SERVERS|SERVICE|DSN|BROKER|BROKERS|TARGET)S?\Z",
    re.IGNORECASE,
)
_HOST_FLAG = re.compile(r"(host|addr|address|url|uri|endpoint|server|target|broker|-h)\Z", re.IGNORECASE)


def image_words(image: str) -> list[str]:
    """The name parts of an image reference: no registry host, tag or digest."""
    parts = image.split("@", 1)[0].lower().split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    parts[-1] = parts[-1].split(":", 1)[0]
    return parts


def role(name: str, body: Any) -> tuple[str, str]:
    """("observability" | "load" | "", why): what a service is besides an application, and the evidence."""
    image = body.get("image") if isinstance(body, dict) else None
    words = image_words(image) if isinstance(image, str) else []
    if any(word in OBSERVABILITY for word in words):
        return "observability", f"image {image}"
    if name.lower() in OBSERVABILITY:
        return "observability", f"name {name}"
    if any(word in LOAD_IMAGES for word in words):
        return "load", f"image {image}"
    if name.lower() in LOAD_NAMES:
        return "load", f"name {name}"
    return "", ""


def hosts(body: Any) -> Iterator[str]:
    """Names other services may reach this one by: container_name, hostname, network aliases."""
    if not isinstance(body, dict):
        return
    for key in ("container_name", "hostname"):
        if isinstance(body.get(key), str):
            yield body[key]
    networks = body.get("networks")
    if isinstance(networks, dict):
        for network in networks.values():
            aliases = network.get("aliases") if isinstance(network, dict) else None
            if isinstance(aliases, list):
                yield from (a for a in aliases if isinstance(a, str))


def references(body: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(host, key path, the text it came from) for each host named in environment and command."""
    if not isinstance(body, dict):
        return
    yield from _environment(body.get("environment"), f"{where}.environment")
    for key in ("command", "entrypoint"):
        yield from _command(body.get(key), f"{where}.{key}")


def _environment(environment: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(environment, dict):
        pairs = [(str(k), v) for k, v in environment.items()]
    elif isinstance(environment, list):
        pairs = [tuple(item.split("=", 1)) for item in environment if isinstance(item, str) and "=" in item]
    else:
        return
    for key, value in pairs:
        if not isinstance(value, str):
            continue
        plain_ok = bool(_HOST_KEY.search(key))
        for part in re.split(r"[,\s;]+", value):
            for host in host_of(part, plain_ok):
                yield host, f"{where}.{key}", f"{key}={value}"


def _command(command: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(command, str):
        try:
            tokens = shlex.split(command)
        except ValueError:
            tokens = command.split()
    elif isinstance(command, list):
        tokens = [str(token) for token in command]
    else:
        return
    previous = ""
    for token in tokens:
        flag, sep, value = token.partition("=")
        if sep and flag.startswith("-"):
            found = host_of(value, bool(_HOST_FLAG.search(flag)))
        else:
            found = host_of(token, previous.startswith("-") and bool(_HOST_FLAG.search(previous)))
        for host in found:
            yield host, where, token if not previous.startswith("-") or sep else f"{previous} {token}"
        previous = token


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^:/?#,\[\]]+)")
_HOST_PORT = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9_.-]*):\d{1,5}(?!\w)")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def host_of(text: str, plain_ok: bool) -> list[str]:
    """The hosts a value may name: URL hosts and `host:port` anywhere in it (a DSN's
    `tcp(db:3306)` too), and the whole value when `plain_ok` and it is a bare name. The caller
    keeps those that are services."""
    text = text.strip().strip("\"'")
    found = [m.group(1) for m in _URL.finditer(text)] + [m.group(1) for m in _HOST_PORT.finditer(text)]
    if plain_ok and _PLAIN.match(text):
        found.append(text)
    return list(dict.fromkeys(found))
