"""The canary judge's window of one version: each host's part from its per-second series, and the
parts summed into a `scenario.judge.Window`. One pair of pure functions, so the Ray run, the
in-process run and the run core sum a version's window the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nanoservices.scenario.judge import Window

Served = tuple[int, int, dict[int, int]]  # a host's part of a version's window: requests, errors, latency


def served_part(series: Mapping[str, Mapping[str, Any]], service: str, version: str, since: int) -> Served:
    """Requests answered, errors and service-time histogram of service@version from second `since`
    on, summed over the zones of one host's series (keys "second|service|version|zone")."""
    requests = errors = 0
    latency: dict[int, int] = {}
    for key, row in series.items():
        second, row_service, row_version, _zone = key.split("|")
        if row_service == service and row_version == version and int(second) >= since:
            requests += row["requests"]
            errors += row["errors"]
            for bucket, n in row["h"].items():
                latency[bucket] = latency.get(bucket, 0) + n
    return requests, errors, latency


def window_of(parts: Iterable[object]) -> Window:
    """A version's window summed over its hosts' parts; a part that is not a `Served` (a host's
    call failed: its error) counts nothing."""
    requests = errors = 0
    latency: dict[int, int] = {}
    for part in parts:
        if isinstance(part, tuple):
            requests += part[0]
            errors += part[1]
            for bucket, n in part[2].items():
                latency[bucket] = latency.get(bucket, 0) + n
    return Window(requests, errors, latency)
