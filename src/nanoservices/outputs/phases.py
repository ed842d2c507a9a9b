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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nanoservices.outputs import histogram

TOLERANCE = 0.01  # success rate within this of before's counts as recovered


def _window(series: Mapping[int, Mapping[str, Any]], start: int, stop: int) -> dict[str, Any]:
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
    return {
        "from": start,
        "to": stop,
        "requests": requests,
        "errors": errors,
        "success_rate": None if rate is None else round(rate, 6),
        "p99_ms": None if p99 is None else round(p99, 3),
    }


def _rate(row: Mapping[str, Any] | None) -> float | None:
    if not row or not row["requests"]:
        return None
    return float(row["requests"] - row["errors"]) / row["requests"]


def phases(
    incidents: Sequence[Mapping[str, Any]], entry_series: Mapping[str | int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One record per incident, in time order: its phases and its recovery time."""
    series = {int(second): row for second, row in entry_series.items()}
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
            before = _window(series, min(previous_end, first), first)
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
        out.append(
            {
                "kind": incident["kind"],
                "target": incident["target"],
                "at": at,
                "until": until,
                "instances": incident.get("instances", 0),
                "before": before,
                "during": _window(series, first, stop),
                "after": _window(series, stop, horizon),
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
