"""Simulator lag in the run's files: hosts' per-second figures summed, lag.csv, episodes as events,
the summary's share; and a host's probe running from the start of its instances."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from nanoservices.outputs.lag_outputs import lag_lines, lag_summary, write_lag
from nanoservices.packages.base import BehaviourSettings
from nanoservices.runtime.host import HostCore, HostSetup
from nanoservices.runtime.lag import lag_counts
from nanoservices.runtime.stats import add_stats
from nanoservices.scenario.events import EventKind, read_events
from support import virtual_time

QUIET = (0.001, 0.002)


def summed() -> dict[str, object]:
    total: dict[str, object] = {}
    add_stats(total, {"lag": lag_counts(0, {0: QUIET, 1: (0.05, 0.3), 2: (0.03, 0.08), 3: QUIET})})
    add_stats(total, {"lag": lag_counts(1, {0: QUIET, 1: QUIET, 2: (0.025, 0.04), 3: QUIET})})
    return total["lag"]  # type: ignore[return-value]


def test_lag_csv_events_and_the_summary_share(tmp_path: Path) -> None:
    counts = summed()
    summary = lag_summary(counts, 10.0)
    assert summary["episodes"] == [{"start": 1, "end": 3, "worst_ms": 300.0, "hosts": ["host 0", "host 1"]}]
    assert summary["affected_share"] == 0.2 and summary["threshold_ms"] == 20.0
    (tmp_path / "events.jsonl").write_text("")
    write_lag(tmp_path, counts, summary)
    rows = list(csv.reader((tmp_path / "lag.csv").open()))
    assert rows[0] == ["second", "host", "p99_ms", "worst_ms"]
    assert rows[1:4] == [
        ["0", "0", "1.000", "2.000"],
        ["0", "1", "1.000", "2.000"],
        ["1", "0", "50.000", "300.000"],
    ]
    events = read_events(tmp_path / "events.jsonl")
    assert [(e.at, e.kind) for e in events] == [
        (1.0, EventKind.SIMULATOR_LAG_START),
        (3.0, EventKind.SIMULATOR_LAG_END),
    ]
    assert events[0].details == {"hosts": ["host 0", "host 1"], "worst_ms": 300.0}
    (line,) = lag_lines(summary)
    assert line.startswith("  simulator lag: 2 s (20% of the traffic)")


def test_the_summary_counts_the_traffic_seconds_of_an_episode_that_runs_on_past_them() -> None:
    """Hosts probe until they stop: lag while they drain is labelled, but is not traffic."""
    counts = {"lag": lag_counts(0, {s: (0.05, 0.1) for s in range(2, 27)})}["lag"]
    summary = lag_summary(counts, 24.34)
    assert summary["episodes"][0]["end"] == 27
    assert summary["affected_seconds"] == 22.34 and summary["affected_share"] == round(22.34 / 24.34, 4)
    (line,) = lag_lines(summary)
    assert line.startswith("  simulator lag: 22 s (92% of the traffic)")


def test_a_quiet_run_has_no_episode_and_no_summary_line(tmp_path: Path) -> None:
    counts = {"lag": lag_counts(0, {0: QUIET, 1: QUIET})}["lag"]
    summary = lag_summary(counts, 2.0)
    assert summary["episodes"] == [] and summary["affected_share"] == 0.0
    assert lag_lines(summary) == []
    write_lag(tmp_path, counts, summary)
    assert not (tmp_path / "events.jsonl").exists()


def test_a_host_probes_its_loop_every_second_once_its_instances_start() -> None:
    async def main() -> dict[str, object]:
        setup = HostSetup(0, [], [], BehaviourSettings(), 1, 2.0)
        host = HostCore(setup, clock=virtual_time.clock)
        host.start_instances(1.0)
        await asyncio.sleep(3.06)
        return host.freeze()

    counts = virtual_time.run(main())
    lag = counts["lag"]
    assert isinstance(lag, dict)
    # on virtual time the loop is never late: seconds 0-2 closed, and 3 flushed, all at 0
    assert sorted(int(s) for s in lag["0"]) == [0, 1, 2, 3]
    assert all(v == {"p99": 0.0, "worst": 0.0} for v in lag["0"].values())
