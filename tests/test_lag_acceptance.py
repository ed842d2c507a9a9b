"""Issue 20's simulator-lag acceptance, through the CLI on Ray: the machine's own latency is labelled.

A red/black of homepage at one actor per instance (`run netflixoss -d 24 --no-chaos --scenario`,
deploy at 4 s, the default -K 1) starts 24 new Ray worker processes on a 2-core machine while the
old hosts serve traffic. Their timers fire late while the group starts: events.jsonl must hold
`simulator-lag` episodes overlapping the new group's start-up, from the deploy's `deploy-start`
to its `group-up` (or the run's end, if the group was not up by then), most of it (80 %) inside
an episode. A quiet packed run (`-K 50`, same duration, no deploy) must have none: its hosts'
timers stay within runtime/lag.py's LAG_THRESHOLD (p99 of a second's probes over 20 ms) every
second; on this machine they stayed within 2-3 ms.

Both runs' lag.csv figures (worst per host) are printed for the record: what the threshold
separates depends on the machine, and these tests are judged on a machine doing nothing else.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nanoservices.runtime.lag import LAG_THRESHOLD

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("nanoservices"))
DURATION = 24
REDBLACK = """\
timeline:
  - at: 4s
    deploy: {service: homepage, version: v2, strategy: redblack, keep: 5s}
"""


def run(out: Path, *args: str) -> dict[str, Any]:
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run(
        [CLI, "run", "netflixoss", "-d", str(DURATION), "--no-chaos", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())  # type: ignore[no-any-return]


def events(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]


def episodes(found: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(start, end) seconds of each simulator-lag episode, from its start and end events."""
    starts = [e["at"] for e in found if e["kind"] == "simulator-lag-start"]
    ends = [e["at"] for e in found if e["kind"] == "simulator-lag-end"]
    assert len(starts) == len(ends)
    return list(zip(starts, ends, strict=True))


def worst_per_host(out: Path) -> dict[str, float]:
    """lag.csv's worst p99 (ms) per host over the run."""
    worst: dict[str, float] = {}
    with (out / "lag.csv").open() as f:
        for row in csv.DictReader(f):
            worst[row["host"]] = max(worst.get(row["host"], 0.0), float(row["p99_ms"]))
    return worst


@pytest.mark.heavy
def test_a_one_actor_per_instance_redblack_is_labelled_as_simulator_lag(tmp_path: Path) -> None:
    scenario = tmp_path / "redblack.yaml"
    scenario.write_text(REDBLACK)
    out = tmp_path / "k1"
    summary = run(out, "--scenario", str(scenario))
    found = events(out)
    (start,) = [e["at"] for e in found if e["kind"] == "deploy-start"]
    up = [e["at"] for e in found if e["kind"] == "group-up"]
    end = up[0] if up else float(DURATION)  # not up by the end: the deploy is reported unfinished
    lag = episodes(found)
    covered = sum(max(0.0, min(b, end) - max(a, start)) for a, b in lag)
    print(
        json.dumps(
            {
                "start_up": [start, end],
                "episodes": lag,
                "covered_s": covered,
                "worst_ms": worst_per_host(out),
                "loadavg": Path("/proc/loadavg").read_text(),
            }
        )
    )
    assert any(a < end and b > start for a, b in lag), (start, end, lag)
    assert covered >= 0.8 * (end - start), (start, end, lag)  # most of the start-up, not a moment of it
    assert summary["simulator_lag"]["episodes"] and summary["simulator_lag"]["affected_share"] > 0
    assert all(e["worst_ms"] > LAG_THRESHOLD * 1000 for e in summary["simulator_lag"]["episodes"])


@pytest.mark.heavy
def test_a_quiet_packed_run_has_no_simulator_lag(tmp_path: Path) -> None:
    out = tmp_path / "packed"
    summary = run(out, "-K", "50")
    worst = worst_per_host(out)
    print(json.dumps({"worst_ms": worst, "loadavg": Path("/proc/loadavg").read_text()}))
    assert len(worst) == summary["simulator_lag"]["hosts"] > 0  # every host measured
    assert episodes(events(out)) == []
    assert summary["simulator_lag"]["episodes"] == [] and summary["simulator_lag"]["affected_share"] == 0
