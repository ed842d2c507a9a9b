"""Hand-checkable rules of Zipkin's v2 span schema (zipkin-api zipkin2-api.yaml) and of spigo's v1
flow objects, for tests of the file flows. Each checker returns problems as strings; [] means valid."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_TRACE = re.compile(r"^[0-9a-f]{16}([0-9a-f]{16})?$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
V2_FIELDS = {
    "traceId",
    "name",
    "parentId",
    "id",
    "kind",
    "timestamp",
    "duration",
    "debug",
    "shared",
    "localEndpoint",
    "remoteEndpoint",
    "annotations",
    "tags",
}
V2_KINDS = {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}
V1_VALUES = {"cs", "sr", "ss", "cr"}


def _endpoint_problems(where: str, endpoint: Any) -> list[str]:
    if not isinstance(endpoint, dict) or not endpoint:
        return [f"{where}: not a non-empty object"]
    problems = []
    if set(endpoint) - {"serviceName", "ipv4", "ipv6", "port"}:
        problems.append(f"{where}: unknown fields {set(endpoint) - {'serviceName', 'ipv4', 'ipv6', 'port'}}")
    if "serviceName" in endpoint and not isinstance(endpoint["serviceName"], str):
        problems.append(f"{where}.serviceName: not a string")
    if "ipv4" in endpoint and not _IPV4.match(str(endpoint["ipv4"])):
        problems.append(f"{where}.ipv4: {endpoint['ipv4']!r} is not dotted IPv4")
    if "port" in endpoint and not (isinstance(endpoint["port"], int) and 0 < endpoint["port"] < 65536):
        problems.append(f"{where}.port: {endpoint['port']!r} is not a port")
    return problems


def zipkin_v2_problems(spans: Iterable[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for i, span in enumerate(spans):
        at = f"[{i}]"
        if set(span) - V2_FIELDS:
            problems.append(f"{at}: unknown fields {set(span) - V2_FIELDS}")
        if not _TRACE.match(str(span.get("traceId", ""))):
            problems.append(f"{at}.traceId: {span.get('traceId')!r} is not 16 or 32 lower-case hex")
        if not _HEX16.match(str(span.get("id", ""))):
            problems.append(f"{at}.id: {span.get('id')!r} is not 16 lower-case hex")
        if "parentId" in span and (
            not _HEX16.match(str(span["parentId"])) or span["parentId"] == span.get("id")
        ):
            problems.append(f"{at}.parentId: {span['parentId']!r} is not 16 hex different from id")
        if "kind" in span and span["kind"] not in V2_KINDS:
            problems.append(f"{at}.kind: {span['kind']!r}")
        if not isinstance(span.get("name", ""), str):
            problems.append(f"{at}.name: not a string")
        for field in ("timestamp", "duration"):
            value = span.get(field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{at}.{field}: {value!r} is not a positive integer (µs)")
        for field in ("localEndpoint", "remoteEndpoint"):
            if field in span:
                problems.extend(_endpoint_problems(f"{at}.{field}", span[field]))
        for j, annotation in enumerate(span.get("annotations", [])):
            if set(annotation) != {"timestamp", "value"} or not isinstance(annotation["value"], str):
                problems.append(f"{at}.annotations[{j}]: {annotation!r}")
        tags = span.get("tags", {})
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            problems.append(f"{at}.tags: not a string-to-string map")
    return problems


def spigo_v1_problems(objects: Iterable[dict[str, Any]]) -> list[str]:
    """The shape of spigo's flow objects (its lamp_flow.json sample), key order included."""
    problems: list[str] = []
    for i, obj in enumerate(objects):
        at = f"[{i}]"
        keys = list(obj)
        expected = ["traceId", "name", "id", "parentId", "annotations"]
        if keys != [k for k in expected if k in obj] or {"traceId", "name", "id", "annotations"} - set(obj):
            problems.append(f"{at}: keys {keys}")
            continue
        for field in ("traceId", "id", "parentId"):
            if field in obj and not _TRACE.match(str(obj[field])):
                problems.append(f"{at}.{field}: {obj[field]!r} is not hex")
        for j, annotation in enumerate(obj["annotations"]):
            where = f"{at}.annotations[{j}]"
            if list(annotation) != ["endpoint", "timestamp", "value"]:
                problems.append(f"{where}: keys {list(annotation)}")
                continue
            endpoint = annotation["endpoint"]
            if list(endpoint) != ["serviceName", "ipv4", "port"] or endpoint["port"] != 8080:
                problems.append(f"{where}.endpoint: {endpoint!r}")
            problems.extend(_endpoint_problems(f"{where}.endpoint", endpoint))
            if annotation["value"] not in V1_VALUES or not isinstance(annotation["timestamp"], int):
                problems.append(f"{where}: {annotation['value']!r} at {annotation['timestamp']!r}")
    return problems


def spigo_layout_problems(text: str) -> list[str]:
    """spigo's layout: '[' line, then lines that are ',' (between traces), '{...}' or ',{...}', then ']'."""
    lines = text.split("\n")
    problems = []
    if lines[0] != "[" or lines[-2:] != ["]", ""]:
        problems.append("must start with '[\\n' and end with '\\n]\\n'")
    for n, line in enumerate(lines[1:-2], start=2):
        if not (line == "," or (line.startswith(("{", ",{")) and line.endswith("}"))):
            problems.append(f"line {n}: {line[:40]!r}")
    return problems
