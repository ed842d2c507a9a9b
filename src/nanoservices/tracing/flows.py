"""File flows, written by the driver from every host's part: Zipkin v2 JSON and spigo's v1 flow file.

spigo's flow (BEHAVIOUR.md 6.4) has one Zipkin v1 span per hop: the caller's cs/cr and the callee's
sr/ss annotations under one id. OTel gives a hop two spans (CLIENT, then SERVER as its child), so a
hop here is a CLIENT span plus the SERVER span whose parent it is, and it takes the CLIENT span's id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PORT = 8080  # spigo's flow files put every endpoint on port 8080
INSTANCE_TAG = "service.instance.id"  # a Zipkin tag: the nine-field name spigo names endpoints by
ZIPKIN_FILE = "zipkin.json"
SPIGO_FILE = "flow.json"
_KIND_TAG = "nanoservices.message.kind"
_ANSWERED_TAG = "http.response.status_code"  # set when a request was answered (or failed) as such


def merge_parts(parts: Iterable[bytes]) -> list[dict[str, Any]]:
    return [span for part in parts if part for span in json.loads(part)]


def write_flows(out_dir: Path, flows: set[str], parts: list[bytes]) -> list[str]:
    """Write the requested file flows ('zipkin', 'spigo'; others are ignored); returns the paths."""
    wanted = [kind for kind in ("zipkin", "spigo") if kind in flows]
    if not wanted:
        return []
    spans = merge_parts(parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for kind in wanted:
        path = out_dir / (ZIPKIN_FILE if kind == "zipkin" else SPIGO_FILE)
        path.write_text(zipkin_v2_text(spans) if kind == "zipkin" else spigo_flow_text(to_spigo(spans)))
        written.append(str(path))
    return written


def zipkin_v2_text(spans: list[dict[str, Any]]) -> str:
    """A JSON list, one span per line: exactly what Zipkin's POST /api/v2/spans accepts."""
    if not spans:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(s, separators=(",", ":")) for s in spans) + "\n]\n"


def _endpoint(span: dict[str, Any]) -> dict[str, Any]:
    tags = span.get("tags", {})
    local = span.get("localEndpoint", {})
    return {
        "serviceName": tags.get(INSTANCE_TAG) or local.get("serviceName", ""),
        "ipv4": local.get("ipv4", ""),
        "port": PORT,
    }


def _imposition(span: dict[str, Any]) -> str:
    """spigo's span name is the message kind: GET_REQUEST -> GetRequest."""
    kind = span.get("tags", {}).get(_KIND_TAG)
    return kind.title().replace("_", "") if kind else span.get("name", "")


def _annotation(span: dict[str, Any], timestamp: int, value: str) -> dict[str, Any]:
    return {"endpoint": _endpoint(span), "timestamp": timestamp, "value": value}


def _hop(
    hop_id: str, client: dict[str, Any] | None, server: dict[str, Any] | None, parent: str | None
) -> dict[str, Any]:
    first = client or server
    assert first is not None
    answered = _ANSWERED_TAG in (first.get("tags") or {})
    annotations: list[dict[str, Any]] = []
    if client is not None:
        annotations.append(_annotation(client, client["timestamp"], "cs"))
    if server is not None:
        annotations.append(_annotation(server, server["timestamp"], "sr"))
        if answered:
            annotations.append(_annotation(server, server["timestamp"] + server["duration"], "ss"))
    if client is not None and answered:
        annotations.append(_annotation(client, client["timestamp"] + client["duration"], "cr"))
    hop: dict[str, Any] = {"traceId": first["traceId"], "name": _imposition(first), "id": hop_id}
    if parent:
        hop["parentId"] = parent
    hop["annotations"] = annotations
    return hop


def to_spigo(spans: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Zipkin v2 spans -> spigo v1 hops, grouped per trace (traces and hops in time order)."""
    by_id = {s["id"]: s for s in spans}
    server_of: dict[str, dict[str, Any]] = {}
    for s in spans:
        if s.get("kind") == "SERVER" and s.get("parentId") in by_id:
            server_of[s["parentId"]] = s

    def hop_of_server(server: dict[str, Any]) -> str:
        """The v1 id of the hop a SERVER span belongs to: its caller's CLIENT span id, else its own."""
        return server.get("parentId") or server["id"]

    def hop_parent(span: dict[str, Any]) -> str | None:
        parent = by_id.get(span.get("parentId", ""))
        if parent is None or parent.get("kind") != "SERVER":
            return None
        return hop_of_server(parent)

    traces: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for s in spans:
        kind = s.get("kind")
        if kind == "CLIENT":
            hop = _hop(s["id"], s, server_of.get(s["id"]), hop_parent(s))
        elif kind == "SERVER" and s.get("parentId") not in by_id:  # a root, or its caller's span is lost
            hop = _hop(hop_of_server(s), None, s, None)
        else:
            continue
        traces[s["traceId"]].append((s["timestamp"], hop))
    ordered = sorted(traces.values(), key=lambda hops: min(t for t, _ in hops))
    return [[hop for _, hop in sorted(hops, key=lambda th: th[0])] for hops in ordered]


def spigo_flow_text(traces: list[list[dict[str, Any]]]) -> str:
    """spigo's layout: '[' newline, hops of a trace joined by newline-comma, traces by newline-comma-
    newline, then newline ']' newline."""

    def dump(hop: dict[str, Any]) -> str:
        return json.dumps(hop, separators=(",", ":"))

    body = "\n,\n".join("\n,".join(dump(hop) for hop in hops) for hops in traces if hops)
    return "[\n" + body + "\n]\n"
