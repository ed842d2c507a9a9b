"""Before, during and after each incident: what the users saw, from the entry requests' per-second
series (requests ended, failed, latency of the completed ones, counted by the traffic sources).

Seconds are whole seconds of the run. An incident at `at` (until `until` for a window) splits the
seconds between the previous incident and the next into:
- before: from the end of the previous incident's window (or 0) up to `at`; an incident starting
  while the previous one is still on shares its before;
- during: its window; for a kill (monkey, gorilla, kong) from `at` until it recovered;
- after: from there up to the next incident (or the end of the run).
It recovered once the success rate is back within 1 % (absolute) of before's and stays there until
the next incident: the recovery time is from `at` to the end of the last second that fell short,
0 when none did, None when it still fell short at the next incident (or the end of the run):
`judged_until` says which second that was.

Latency settles after the success rate does (a window's queues drain, a relaunched zone warms
up): `p99_recovery_seconds` is from the end of `during` to the first second from which the entry p99
of the rest (up to the horizon) is within P99_TOLERANCE of before's p99 (None when it never is),
and `settled` is the part from that second on, so it shows what the system returned to.

Given the run's per-service series too (stats' `series`, "second|service|version|zone" keys), each
part also has `zones`: the p99 of every request served in each zone, so a gorilla's window shows
the other zones slowing while they carry its share, and settling after it came back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nanoservices.outputs import histogram

TOLERANCE = 0.01  # success rate within this of before's counts as recovered
P99_TOLERANCE = 0.10  # a second's p99 within this share of before's counts as settled


def _window(
    series: Mapping[int, Mapping[str, Any]],
    start: int,
    stop: int,
    zones: Mapping[str, Mapping[int, Mapping[int, int]]] | None = None,
) -> dict[str, Any]:
    requests = errors = 0
    latency: dict[int, int] = {}
    for second in range(start, stop):
        row = series.get(second)
        if row is None:
            continue
        requests += row["requests"]
        errors += row["errors"]
        for bucket, n in row["h"].items():
            latency[int(bucket)] = latency.get(int(bucket), 0) + n
    rate = (requests - errors) / requests if requests else None
    p99 = histogram.quantile(histogram.from_counts(latency), 0.99) * 1000 if latency else None
    part = {
        "from": start,
        "to": stop,
        "requests": requests,
        "errors": errors,
        "success_rate": None if rate is None else round(rate, 6),
        "p99_ms": None if p99 is None else round(p99, 3),
    }
    if zones is not None:
        part["zones"] = {zone: _p99_ms(seconds, start, stop) for zone, seconds in zones.items()}
    return part


def _p99_ms(seconds: Mapping[int, Mapping[int, int]], start: int, stop: int) -> float | None:
    latency: dict[int, int] = {}
    for second in range(start, stop):
        for bucket, n in seconds.get(second, {}).items():
            latency[bucket] = latency.get(bucket, 0) + n
    return round(histogram.quantile(latency, 0.99) * 1000, 3) if latency else None


def by_zone(series: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[int, dict[int, int]]]:
    """zone -> second -> latency histogram of every request served there (all services)."""
    zones: dict[str, dict[int, dict[int, int]]] = {}
    for key, row in series.items():
        second, rest = key.split("|", 1)
        zone = rest.rsplit("|", 2)[2]
        into = zones.setdefault(zone, {}).setdefault(int(second), {})
        for bucket, n in histogram.from_counts(row["h"]).items():
            into[bucket] = into.get(bucket, 0) + n
    return dict(sorted(zones.items()))


def _settled_from(
    series: Mapping[int, Mapping[str, Any]], start: int, horizon: int, p99: float | None
) -> int | None:
    """The first second from which the p99 of everything up to the horizon is within
    P99_TOLERANCE of `p99` (one second's p99 of a few hundred requests is too noisy to judge
    alone); None when no such second comes, or there is no before to judge against."""
    if p99 is None:
        return None
    for second in range(start, horizon):
        rest = _window(series, second, horizon)["p99_ms"]
        if rest is not None and rest <= p99 * (1 + P99_TOLERANCE):
            return second
    return None


def _rate(row: Mapping[str, Any] | None) -> float | None:
    if not row or not row["requests"]:
        return None
    return float(row["requests"] - row["errors"]) / row["requests"]


def phases(
    incidents: Sequence[Mapping[str, Any]],
    entry_series: Mapping[str | int, Mapping[str, Any]],
    service_series: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One record per incident, in time order: its phases and its recovery time (and, given the
    services' series, each part's p99 per zone)."""
    series = {int(second): row for second, row in entry_series.items()}
    zones = by_zone(service_series) if service_series is not None else None
    end = max(series, default=-1) + 1  # one past the last second with an entry request
    ordered = sorted(incidents, key=lambda i: i["at"])
    out: list[dict[str, Any]] = []
    previous_end = 0
    for n, incident in enumerate(ordered):
        at = float(incident["at"])
        until = incident.get("until")
        first = math.floor(at)
        horizon = math.floor(ordered[n + 1]["at"]) if n + 1 < len(ordered) else end
        horizon = max(horizon, first + 1)
        if previous_end < first or not out:
            before = _window(series, min(previous_end, first), first, zones)
        else:  # it starts while the previous one is still on: both are judged against the same before
            before = out[-1]["before"]
        baseline = before["success_rate"]
        short = [
            s
            for s in range(first, horizon)
            if baseline is not None
            and (rate := _rate(series.get(s))) is not None
            and rate < baseline - TOLERANCE
        ]
        recovered = short[-1] + 1 if short else first
        recovery: float | None = max(0.0, recovered - at) if short else 0.0
        if baseline is None or (short and recovered >= horizon):
            recovery = None
        stop = math.ceil(float(until)) if until is not None else max(recovered, first + 1)
        stop = min(max(stop, first + 1), max(horizon, first + 1))
        settled = _settled_from(series, stop, horizon, before["p99_ms"])
        out.append(
            {
                "kind": incident["kind"],
                "target": incident["target"],
                "at": at,
                "until": until,
                "instances": incident.get("instances", 0),
                "before": before,
                "during": _window(series, first, stop, zones),
                "after": _window(series, stop, horizon, zones),
                "p99_recovery_seconds": None if settled is None else settled - stop,
                "settled": None if settled is None else _window(series, settled, horizon, zones),
                "recovery_seconds": None if recovery is None else round(recovery, 3),
                "judged_until": horizon,  # the second the recovery was looked for up to
            }
        )
        previous_end = stop
    return out


def phase_line(phase: Mapping[str, Any]) -> str:
    """One line of the run summary for an incident."""

    def rate(part: Mapping[str, Any]) -> str:
        value = part["success_rate"]
        return "-" if value is None else f"{value * 100:.1f} %"

    recovery = phase["recovery_seconds"]
    if recovery is None:
        recovered = f"not recovered by {phase['judged_until']} s"
    else:
        recovered = f"recovered after {recovery:g} s"
    return (
        f"  {phase['kind']} {phase['target']} at {phase['at']:.1f} s: success {rate(phase['before'])} "
        f"before, {rate(phase['during'])} during, {rate(phase['after'])} after; {recovered}"
    )
