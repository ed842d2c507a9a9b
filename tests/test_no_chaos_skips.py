"""--no-chaos keeps a scenario's deploys and leaves out its Simian Army: it says so in one progress
line before Ray starts, and summary.json lists every action it left out (`skipped_actions`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from nanoservices import simulation
from nanoservices.config import RunConfig
from nanoservices.runtime import connection

SCENARIO = """
timeline:
  - at: 3s
    deploy: {service: homepage, version: v2}
  - at: 10s
    gorilla: us-east-1/zoneB
  - at: 12s
    for: 6s
    latency: {service: subscriber, add: 200ms}
"""
SKIPPED = [
    {"kind": "gorilla", "target": "us-east-1/zoneB", "at": 10.0, "origin": "$.timeline[1]"},
    {"kind": "latency", "target": "subscriber", "at": 12.0, "until": 18.0, "origin": "$.timeline[2]"},
]


class RayStarted(Exception):
    """Raised where Ray would start: everything said before it is what the test checks."""


@contextmanager
def no_ray(address: str | None) -> Iterator[Any]:
    raise RayStarted
    yield


def said_before_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chaos: bool) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    monkeypatch.setattr(connection, "ray_session", no_ray)
    config = RunConfig(arch="netflixoss", duration=30, chaos=chaos, scenario_file=path, out_dir=tmp_path)
    lines: list[str] = []
    with pytest.raises(RayStarted):
        simulation.run(config, on_progress=lines.append)
    return [line.replace(str(path), "s.yaml") for line in lines]


def test_no_chaos_names_the_skipped_actions_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert said_before_ray(tmp_path, monkeypatch, chaos=False) == [
        "--no-chaos: skipped 2 chaos actions of s.yaml: gorilla us-east-1/zoneB at 10s, "
        "latency subscriber 12s-18s"
    ]


def test_with_chaos_nothing_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert said_before_ray(tmp_path, monkeypatch, chaos=True) == []


def test_summary_json_records_the_skipped_actions(tmp_path: Path) -> None:
    from nanoservices.catalog import resolve_plan
    from nanoservices.result import RunResult
    from nanoservices.summary import summarise

    plan = resolve_plan("netflixoss")
    graph = {"nodes": 0, "edges": 0, "forgets": 0, "done": 0, "files": []}
    result = RunResult(plan.arch, 1, len(plan.instances), graph=graph, skipped_actions=SKIPPED)
    summarise(plan, RunConfig(arch="netflixoss", out_dir=tmp_path), result, 1.0)
    assert json.loads((tmp_path / "summary.json").read_text())["skipped_actions"] == SKIPPED


def test_the_records_come_from_the_scenario(tmp_path: Path) -> None:
    from nanoservices.catalog import resolve_plan
    from nanoservices.scenario.binding import skipped_chaos
    from nanoservices.scenario.validate import parse_scenario

    scenario = parse_scenario(SCENARIO, "s.yaml", resolve_plan("netflixoss"), 30.0)
    assert skipped_chaos(scenario) == SKIPPED
    assert skipped_chaos(None) == []
