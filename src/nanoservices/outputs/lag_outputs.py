"""Simulator lag in a run's files: `lag.csv`, `simulator-lag` events, the summary's share.

Why: latency in spans is the model's unless the machine running the simulation was late. Each
host measured how late its timers fired (runtime/lag.py); here the hosts' seconds become
`lag.csv` (second, host, p99_ms, worst_ms), the episodes in which some host's p99 passed
LAG_THRESHOLD become `simulator-lag-start`/`-end` events appended to events.jsonl when the run
ends, and the share of the traffic's seconds inside one goes into summary.json and the summary.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nanoservices.runtime.lag import LAG_THRESHOLD, LagEpisode, affected_share, episodes
from nanoservices.scenario.events import EVENTS_FILE, Event, EventKind

LAG_FILE = "lag.csv"
LAG_HEADER = ("second", "host", "p99_ms", "worst_ms")


def per_host(counts: Mapping[str, Any]) -> dict[str, dict[int, tuple[float, float]]]:
    """The summed counts' `lag` as host -> second -> (p99, worst) seconds."""
    return {
        host: {int(second): (float(v["p99"]), float(v["worst"])) for second, v in seconds.items()}
        for host, seconds in counts.items()
    }


def lag_summary(counts: Mapping[str, Any], traffic_seconds: float) -> dict[str, Any]:
    """What summary.json says: the threshold, each episode, the share of the traffic affected."""
    hosts = per_host(counts)
    found = episodes(hosts, LAG_THRESHOLD)
    worst = max((w for seconds in hosts.values() for _, w in seconds.values()), default=0.0)
    share = affected_share(found, traffic_seconds)  # episodes may run on while the hosts stop
    return {
        "threshold_ms": LAG_THRESHOLD * 1000,
        "hosts": len(hosts),
        "worst_ms": round(worst * 1000, 3),
        "episodes": [_episode(e) for e in found],
        "affected_share": round(share, 4),
        "affected_seconds": round(share * traffic_seconds, 3),  # of the traffic's
    }


def _episode(episode: LagEpisode) -> dict[str, Any]:
    return {
        "start": episode.start,
        "end": episode.end,
        "worst_ms": round(episode.worst * 1000, 3),
        "hosts": [f"host {h}" for h in episode.hosts],
    }


def lag_events(summary: Mapping[str, Any]) -> list[Event]:
    """A start and an end event per episode, at the traffic's seconds."""
    events = []
    for episode in summary.get("episodes", ()):
        details = {"hosts": episode["hosts"], "worst_ms": episode["worst_ms"]}
        events.append(Event(float(episode["start"]), EventKind.SIMULATOR_LAG_START, details=details))
        events.append(Event(float(episode["end"]), EventKind.SIMULATOR_LAG_END, details=details))
    return events


def write_lag(out_dir: Path, counts: Mapping[str, Any], summary: Mapping[str, Any]) -> list[Path]:
    """lag.csv, and the episodes appended to events.jsonl (written by the run, closed by now)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LAG_FILE
    rows = sorted(
        (second, int(host), p99, worst)
        for host, seconds in per_host(counts).items()
        for second, (p99, worst) in seconds.items()
    )
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(LAG_HEADER)
        for second, host, p99, worst in rows:
            writer.writerow((second, host, f"{p99 * 1000:.3f}", f"{worst * 1000:.3f}"))
    events = lag_events(summary)
    if events:
        with (out_dir / EVENTS_FILE).open("a", encoding="utf-8") as f:
            f.writelines(event.to_json_line() + "\n" for event in events)
    return [path]


def lag_lines(summary: Mapping[str, Any]) -> list[str]:
    """One summary line when some second's lag passed the threshold; none for a quiet run."""
    found = summary.get("episodes") or []
    if not found:
        return []
    seconds = summary.get("affected_seconds", sum(e["end"] - e["start"] for e in found))
    return [
        f"  simulator lag: {seconds:,.0f} s ({summary['affected_share']:.0%} of the traffic) with a host's "
        f"timers over {summary['threshold_ms']:g} ms late (worst {summary['worst_ms']:,.0f} ms): "
        "latency there is the machine's, see simulator-lag events"
    ]
