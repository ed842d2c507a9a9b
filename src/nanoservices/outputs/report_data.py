"""What the HTML report shows, read from a run directory into one JSON-able dict.

Everything the page needs is prepared here, so the page's JavaScript only draws: the graph
(aggregated to one node per service and zone above AGGREGATE_ABOVE instances), events, per-service
series summed over zones, histograms (per service and per edge), and a few traces picked from the
run's flows (report_traces.py).
Only summary.json and graph.json are required; every other file may be absent.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from nanoservices.naming import INSTANCE, SERVICE
from nanoservices.outputs.report_traces import pick_traces, spans_from_flow
from nanoservices.problems import InputError, Problem

AGGREGATE_ABOVE = 2_000  # instances; above this the graph shows one node per service and zone
CHART_SERVICES = 16  # services charted over time, the busiest first
# A second the traffic covered less of than this is left out of the charts: its count over a sliver
# of time is noise, and drawn as a whole second it reads as an outage. Longer partial seconds are
# drawn as rates over the time they cover.
MIN_COVERED = 0.25
# Breaker transitions drawn on the timeline, the earliest first: a broken dependency flips every
# caller's breaker, and a page of 10,000 marks says less than its first few hundred.
MAX_BREAKER_EVENTS = 500
SERIES_FIELDS = ("second", "service", "version", "zone", "requests", "errors", "p50_ms", "p99_ms")
SUMMARY_FIELDS = (
    "arch", "instances_planned", "instances_started", "instances_killed", "hosts", "requests_issued",
    "requests_completed", "requests_failed", "requests_in_flight", "requested_rate", "traffic_seconds",
    "wall_seconds", "nodes", "edges", "interrupted", "accounted", "latency_buckets", "simulator_lag",
)  # fmt: skip
RERUN = "rerun the simulation or `nanoservices report` a complete run directory"


def load_run(out_dir: Path, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's data for one run directory; InputError names the file at fault and the fix.
    `summary`: the run's summary in hand, when summary.json is not written yet."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        problem = "no such run directory; pass the --out directory of a finished `nanoservices run`"
        raise InputError([Problem(str(out_dir), "", problem)])
    if summary is None:
        summary = _read_json(out_dir / "summary.json", required=True)
    if not isinstance(summary, dict):
        raise InputError([Problem(str(out_dir / "summary.json"), "", f"expected a JSON object; {RERUN}")])
    header, nodes, edges = _read_graph(out_dir / "graph.json")
    events, breakers_omitted = _drawn(_read_events(out_dir / "events.jsonl"))
    spans = _read_spans(out_dir / "zipkin.json")
    versions = _versions_from_events(events)
    _annotate(nodes, versions, spans or [])
    trace_file = "zipkin.json"
    if spans is None:  # a run with `--flows spigo` only: its hops draw the same waterfalls
        spans, trace_file = _read_flow(out_dir / "flow.json"), "flow.json"
    start = _epoch(header.get("date", ""))
    histograms = _read_json(out_dir / "histograms.json", required=False)
    end = summary.get("traffic_seconds")
    traces = {**pick_traces(spans, events, start), "file": trace_file} if spans else None
    return {
        "summary": {key: summary[key] for key in SUMMARY_FIELDS if key in summary},
        "graph": _graph_view(header, nodes, edges),
        "events": events,
        "breakers_omitted": breakers_omitted,
        "series": _read_series(out_dir / "timeseries.csv", end if isinstance(end, (int, float)) else None),
        "histograms": histograms if isinstance(histograms, dict) else None,
        "traces": traces,
        "files": sorted(
            {p.name for p in out_dir.iterdir() if p.is_file() and p.name != "report.html"} | {"summary.json"}
        ),
    }


def _read_json(path: Path, required: bool) -> Any:
    if not path.is_file():
        if required:
            fix = "it is written by `nanoservices run`; pass the --out directory of a finished run"
            raise InputError([Problem(str(path), "", f"missing; {fix}")])
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(str(path), "", f"cannot read: {exc.strerror}")]) from None
    except ValueError as exc:
        raise InputError([Problem(str(path), "", f"not JSON ({exc}); {RERUN}")]) from None


def _read_spans(path: Path) -> list[dict[str, Any]] | None:
    spans = _read_json(path, required=False)
    if spans is not None and not isinstance(spans, list):
        raise InputError([Problem(str(path), "", f"expected a list of spans; {RERUN}")])
    return None if spans is None else [s for s in spans if isinstance(s, dict)]


def _read_flow(path: Path) -> list[dict[str, Any]] | None:
    hops = _read_json(path, required=False)
    if hops is not None and not isinstance(hops, list):
        raise InputError([Problem(str(path), "", f"expected spigo's list of hops; {RERUN}")])
    return None if hops is None else spans_from_flow(hops)


def _read_graph(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]], dict[tuple[str, str], bool]]:
    """Nodes by name (last package, IP and exit win) and every edge ever seen, True while live."""
    document = _read_json(path, required=True)
    if not isinstance(document, dict) or not isinstance(document.get("graph"), list):
        raise InputError([Problem(str(path), "$.graph", f"expected spigo's graph JSON with a list; {RERUN}")])
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], bool] = {}
    edge_pairs: dict[str, tuple[str, str]] = {}
    for element in document["graph"]:
        if not isinstance(element, dict):
            continue
        if "node" in element:
            name = str(element["node"])
            metadata = str(element.get("metadata", ""))
            node = nodes.setdefault(name, _node(name))
            node["package"] = str(element.get("package", element.get("service", "")))
            node["ip"] = metadata.removeprefix("IP/") if metadata.startswith("IP/") else ""
            node["exit"] = ""
        elif "edge" in element:
            pair = (str(element.get("source", "")), str(element.get("target", "")))
            edges[pair] = True
            edge_pairs[str(element["edge"])] = pair
        elif "forget" in element:
            pair = edge_pairs.get(str(element["forget"])) or (element.get("source"), element.get("target"))
            if pair in edges:
                edges[pair] = False
        elif "done" in element and str(element["done"]) in nodes:
            nodes[str(element["done"])]["exit"] = str(element.get("exit", ""))
    header = {key: str(document.get(key, "")) for key in ("arch", "version", "args", "date")}
    known = {pair: live for pair, live in edges.items() if pair[0] in nodes and pair[1] in nodes}
    return header, nodes, known


def _node(name: str) -> dict[str, Any]:
    """A graph name is arch.region.zone.instance (or, with -f, arch.region.zone.service.package)."""
    parts = name.split(".")
    label = parts[3] if len(parts) > 3 else name
    return {
        "name": name,
        "region": parts[1] if len(parts) > 2 else "*",
        "zone": parts[2] if len(parts) > 2 else "*",
        "service": re.sub(r"\d+$", "", label) or label,
        "version": "",
        "requests": None,
        "errors": None,
    }


def _short(full: str) -> str:
    parts = full.split(".")
    return ".".join([*parts[:3], parts[INSTANCE]]) if len(parts) > INSTANCE else full


def _versions_from_events(events: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Instance short name -> (service, version), from events that name one version and its instances."""
    out: dict[str, tuple[str, str]] = {}
    for event in events:
        versions = event.get("versions") or []
        if len(versions) != 1:
            continue
        for full in event.get("instances") or []:
            parts = str(full).split(".")
            service = parts[SERVICE] if len(parts) > SERVICE else str(event.get("service", ""))
            out.setdefault(_short(str(full)), (service, str(versions[0])))
    return out


def _annotate(nodes: dict[str, dict[str, Any]], versions: dict[str, tuple[str, str]], spans: list) -> None:
    """Versions from events; request and error counts per instance from the SERVER spans of the flows."""
    for name, (service, version) in versions.items():
        if name in nodes:
            nodes[name]["service"] = service or nodes[name]["service"]
            nodes[name]["version"] = version
    served: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for span in spans:
        tags = span.get("tags") or {}
        full = str(tags.get("service.instance.id", ""))
        if span.get("kind") != "SERVER" or not full:
            continue
        short = _short(full)
        served[short] += 1
        if "error" in tags:
            failed[short] += 1
        parts = full.split(".")
        if short in nodes and len(parts) > SERVICE:
            nodes[short]["service"] = parts[SERVICE]
            nodes[short]["version"] = nodes[short]["version"] or str(tags.get("service.version", ""))
    if spans:
        for name, node in nodes.items():
            node["requests"] = served[name]
            node["errors"] = failed[name]


def _graph_view(
    header: dict[str, str], nodes: dict[str, dict[str, Any]], edges: dict[tuple[str, str], bool]
) -> dict[str, Any]:
    degree: Counter[str] = Counter()
    for source, target in edges:
        degree[source] += 1
        degree[target] += 1
    view: dict[str, Any] = {**header, "instances": len(nodes), "aggregated": len(nodes) > AGGREGATE_ABOVE}
    if not view["aggregated"]:
        index = {name: i for i, name in enumerate(nodes)}
        view["nodes"] = [{**node, "degree": degree[name], "count": 1} for name, node in nodes.items()]
        view["edges"] = [[index[s], index[t], live] for (s, t), live in edges.items()]
        return view
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    position: dict[tuple[str, str, str], int] = {}
    group_of: dict[str, int] = {}
    for name, node in nodes.items():
        key = (node["service"], node["region"], node["zone"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "name": f"{node['service']} in {node['region']}/{node['zone']}",
                **{k: node[k] for k in ("region", "zone", "service", "package")},
                "count": 0, "exits": Counter(), "versions": Counter(), "requests": None, "errors": None,
            }  # fmt: skip
            position[key] = len(position)
        group_of[name] = position[key]
        group["count"] += 1
        if node["exit"] and node["exit"] != "normal":
            group["exits"][node["exit"]] += 1
        if node["version"]:
            group["versions"][node["version"]] += 1
        if node["requests"] is not None:
            group["requests"] = (group["requests"] or 0) + node["requests"]
            group["errors"] = (group["errors"] or 0) + node["errors"]
    pairs = {(group_of[s], group_of[t]): live for (s, t), live in edges.items() if group_of[s] != group_of[t]}
    group_degree: Counter[int] = Counter()
    for source, target in pairs:
        group_degree[source] += 1
        group_degree[target] += 1
    view["nodes"] = [
        {**g, "exits": dict(g["exits"]), "versions": dict(g["versions"]), "degree": group_degree[i],
         "version": max(g["versions"], key=g["versions"].get) if g["versions"] else "", "exit": "", "ip": ""}
        for i, g in enumerate(groups.values())
    ]  # fmt: skip
    view["edges"] = [[s, t, live] for (s, t), live in pairs.items()]
    return view


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as lines:
            yield from enumerate(lines, start=1)
    except OSError as exc:
        raise InputError([Problem(str(path), "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise InputError([Problem(str(path), "", f"not UTF-8 text; {RERUN}")]) from None


def _read_events(path: Path) -> list[dict[str, Any]]:
    """Every line of events.jsonl, in file order: the page draws one mark per line."""
    if not path.is_file():
        return []
    events = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            event["at"] = float(event["at"])
            event["kind"] = str(event["kind"])
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"not an event ({exc!s}): each line is a JSON object with `at` and `kind`; {RERUN}"
            raise InputError([Problem(f"{path}:{number}", "", problem)]) from None
        events.append(event)
    return events


def _drawn(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Every event but breaker transitions beyond the earliest MAX_BREAKER_EVENTS; how many were
    left out (events.jsonl has them all). The file's order is kept."""
    breakers = [e for e in events if e["kind"].startswith("breaker-")]
    if len(breakers) <= MAX_BREAKER_EVENTS:
        return events, 0
    kept = {id(e) for e in sorted(breakers, key=lambda e: e["at"])[:MAX_BREAKER_EVENTS]}
    drawn = [e for e in events if not e["kind"].startswith("breaker-") or id(e) in kept]
    return drawn, len(events) - len(drawn)


def _read_series(path: Path, end: float | None) -> dict[str, Any] | None:
    """Per service and version, one point per second summed over zones: [second, requests, errors,
    p50, p99, covered], `covered` the part of the second the traffic ran (it ran `end` seconds).

    Zones' p50s are averaged weighted by requests and their p99s take the maximum: the series file
    holds quantiles, not the samples, so this is the closest reading, and the page says so. A second
    without replies between a version's first and last is a point with no requests (an outage is
    drawn as one); seconds covered less than MIN_COVERED are left out and listed.
    """
    if not path.is_file():
        return None
    rows: dict[tuple[str, str, int], list[float]] = {}
    lines = _lines(path)
    _, head = next(lines, (1, ""))
    if head.strip().split(",") != list(SERIES_FIELDS):
        problem = f"expected the header {','.join(SERIES_FIELDS)}; {RERUN}"
        raise InputError([Problem(f"{path}:1", "", problem)])
    for number, row in enumerate(csv.reader(line for _, line in lines), start=2):
        if not row:
            continue
        try:
            second, service, version, _zone, requests, errors, p50, p99 = row
            key = (service, version, int(second))
            point = rows.setdefault(key, [0, 0, 0.0, 0.0])
            n = int(requests)
            point[0] += n
            point[1] += int(errors)
            point[2] += float(p50) * n
            point[3] = max(point[3], float(p99))
        except ValueError as exc:
            problem = f"bad row ({exc}): {len(SERIES_FIELDS)} fields, numbers where the header says; {RERUN}"
            raise InputError([Problem(f"{path}:{number}", "", problem)]) from None
    seconds = max((second for _, _, second in rows), default=-1) + 1
    end = float(seconds) if end is None or end <= 0 else float(end)

    def covered(second: int) -> float:
        return round(max(0.0, min(1.0, end - second)), 3)

    totals: Counter[str] = Counter()
    by_version: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(dict)
    for (service, version, second), point in rows.items():
        totals[service] += int(point[0])
        by_version[(service, version)][second] = point
    charted = [service for service, _ in totals.most_common(CHART_SERVICES)]
    left_out: set[int] = set()
    services: dict[str, dict[str, list[list[Any]]]] = {service: {} for service in charted}
    for (service, version), points in sorted(by_version.items()):
        if service not in services:
            continue
        line = services[service][version] = []
        for second in range(min(points), max(points) + 1):
            if covered(second) < MIN_COVERED:
                left_out.add(second)
                continue
            n, errors, p50_sum, p99 = points.get(second, (0, 0, 0.0, None))
            p50 = round(p50_sum / n, 3) if n else None
            line.append([second, int(n), int(errors), p50, p99 if n else None, covered(second)])
    return {
        "services": services,
        "totals": {service: totals[service] for service in charted},
        "omitted": len(totals) - len(charted),
        "seconds": seconds,
        "end": end,
        "left_out": sorted(left_out),
    }


def _epoch(stamp: str) -> float | None:
    """RFC 3339 (graph.json's `date`, nanoseconds allowed) as epoch seconds."""
    match = re.fullmatch(r"(.+?T[\d:]+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if not match:
        return None
    whole, fraction, zone = match.groups()
    try:
        seconds = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    except ValueError:
        return None
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)
