"""The Simian Army on a real (embedded, loopback) Ray: the supervisor's fleet kills a zone's host
actors, sets incident profiles and partitions on live hosts, and the run still accounts for
every message. One run, under ~10 actors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.plan import expand
from nanoservices.simulation import run
from support.events import timeline_events

pytestmark = pytest.mark.ray

TIMELINE = """
timeline:
  - at: 1s
    for: 1s
    latency: {service: app, add: 5ms}
  - at: 2.5s
    for: 1s
    partition: [us-east-1/zoneA, us-east-1/zoneC]
  - at: 4s
    gorilla: us-east-1/zoneB
"""


def test_gorilla_latency_and_partition_on_ray_packed(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    plan = expand(load_architecture(tiny_arch))
    scenario = tmp_path / "chaos.yaml"
    scenario.write_text(TIMELINE)
    out = tmp_path / "run"
    config = RunConfig(
        arch=plan.arch, duration=7.0, out_dir=out, poll_interval=0.25, rate=20, instances_per_host=100,
        scenario_file=scenario,
    )  # fmt: skip
    summary = run(config, plan)
    written = json.loads((out / "summary.json").read_text())
    assert written["accounted"] is True, written["accounting_problems"]
    assert summary.timeline_error == "" and not summary.hosts_died
    zone_b = sorted(s.name for s in plan.instances if s.location == ("us-east-1", "zoneB"))
    events = timeline_events(out)
    assert [e["kind"] for e in events] == [
        "incident-start", "incident-end", "partition-start", "partition-end", "gorilla", "chaos-effects",
    ]  # fmt: skip
    assert "trace_ids" in events[1] and "trace_ids" in events[3]  # what each did (runtime/affected.py)
    assert events[-1]["of"] == "gorilla" and events[-1]["affected"] >= 0
    gorilla = events[-2]
    assert gorilla["instances"] == zone_b and gorilla["counts_lost"] == 0
    assert gorilla["method"].startswith("freeze, then ray.kill") and gorilla["nodes"] == []
    graph = read_graph_json(out / "graph.json")
    nodes_b = {s.node for s in plan.instances if s.name in zone_b}
    assert {n: graph.done[n] for n in nodes_b} == dict.fromkeys(nodes_b, "chaos")
    assert {e for n, e in graph.done.items() if n not in nodes_b} == {"normal"}
    assert written["events"] == []  # the scenario's chaos replaces --chaos's kill at half time
    assert written["instances_killed"] == len(zone_b)
    assert [(p["kind"], p["target"]) for p in written["phases"]] == [
        ("latency", "app"),
        ("partition", "us-east-1/zoneA | us-east-1/zoneC"),
        ("gorilla", "us-east-1/zoneB"),
    ]  # fmt: skip
