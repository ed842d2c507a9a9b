"""`nanoservices run` through typer's CliRunner: bad input exits 2 with one line and no traceback;
a runtime refusal exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nosuch"], "nosuch"),
        (["run", "lamp", "-d", "abc"], "duration"),
        (["run", "lamp", "--kv", "speed:10ms"], "chat"),
        (["run", "lamp", "--kv", "chat:5"], "chat"),
        (["run", "lamp", "--rate", "0"], "rate"),
        (["run", "lamp", "-p", "0"], "scale"),
        (["run", "lamp", "-w", "17"], "regions"),
        (["run", "lamp", "-p", "abc"], "scale"),
        (["run", "lamp", "-u", "soon"], "poll"),
        (["run", "lamp", "--otlp-protocol", "carrier-pigeon"], "protocol"),
        (["run", "lamp", "--flows", "telegraph"], "telegraph"),
        (["run", "lamp", "--address", "nowhere"], "address"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines and all(needle in line.lower() for line in lines), result.output
    if args[2:3] != ["-w"]:  # -w 17 is one problem per service of lamp
        assert len(lines) == 1, result.output


def test_plan_too_large_for_memory_exits_1_and_suggests_packing(ray_local: object, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "netflixoss", "-p", "2000", "-d", "1", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "--instances-per-host" in result.output
    assert "Traceback" not in result.output


@pytest.mark.ray
def test_run_prints_the_summary_and_writes_files(ray_local: object, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "lamp", "-d", "1", "-K", "100", "--kv", "chat:20ms", "-g", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    requests_line = next(line for line in result.output.splitlines() if line.startswith("  requests: "))
    assert requests_line.endswith(" in flight at shutdown: accounted for"), requests_line
    assert summary["accounted"] is True and summary["accounting_problems"] == []
    assert summary["edges"] == 73 and summary["nodes"] == 23
    assert (tmp_path / "graph.graphml").read_text().count("<edge ") == 73


BAD_CHAOS = """timeline:
  - at: 2s
    gorilla: us-east-1/zoneQ
  - at: 3s
    kong: mars-1
  - at: 4s
    for: 3s
    errors: {service: subscriber, rate: 1.5}
  - at: 5s
    for: 4s
    latency: {service: subscriber, add: 10ms}
  - at: 6s
    for: 4s
    latency: {service: subscriber, add: 20ms}
"""


def test_bad_chaos_actions_exit_2_with_one_line_per_problem(tmp_path: Path) -> None:
    """The Simian Army's actions run now, so what is wrong with them must stop the run first."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_CHAOS)
    result = runner.invoke(app, ["run", "netflixoss", "-d", "20", "--scenario", str(bad)])
    assert result.exit_code == 2, result.output
    assert sorted(result.output.strip().splitlines()) == sorted(
        [
            f"{bad}: $.timeline[0].gorilla: unknown zone 'us-east-1/zoneQ'; did you mean 'us-east-1/zoneC'?",
            f"{bad}: $.timeline[1].kong: unknown region 'mars-1'; regions in this plan: us-east-1",
            f"{bad}: $.timeline[2].errors.rate: rate 1.5 is outside 0-1; give a fraction such as 0.3 "
            "or a percentage such as 30%",
            f"{bad}: $.timeline[4].latency: overlaps the latency incident on subscriber at $.timeline[3] "
            "(5s-9s); merge them or move one",
        ]
    )
