"""The run ends at -d on Ray too: a deploy still under way then is `unfinished` with its phase,
in summary.json, events.jsonl and the summary lines, and the summary's traffic time is the
sources' own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.plan import expand
from nanoservices.simulation import run

pytestmark = pytest.mark.ray


def test_a_deploy_still_keeping_its_old_group_at_the_end_of_the_run_is_unfinished(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    plan = expand(load_architecture(tiny_arch))
    scenario = tmp_path / "deploy.yaml"
    scenario.write_text(
        "timeline:\n  - at: 1s\n    deploy: {service: app, version: v2, strategy: redblack, keep: 100s}\n"
    )
    out = tmp_path / "run"
    config = RunConfig(
        arch=plan.arch, duration=4.0, out_dir=out, chaos=False, poll_interval=0.25,
        instances_per_host=100, scenario_file=scenario,
    )  # fmt: skip
    summary = run(config, plan)
    written = json.loads((out / "summary.json").read_text())
    (deploy,) = written["deploys"]
    # Where it stood depends on how fast this machine starts the new group's process: still
    # starting it, moving traffic, or keeping the old group (the keep outlasts the run anyway).
    phase = deploy["phase"]
    assert deploy["outcome"] == "unfinished" and phase in ("start-group", "shift", "keep")
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    (ended,) = [e for e in events if e["kind"] == "deploy-unfinished"]
    assert ended["phase"] == phase and ended["service"] == "app"
    assert "promote" not in kinds and "group-stopped" not in kinds
    assert ("group-up" in kinds) == (phase != "start-group")
    assert f"  deploy app v1 -> v2 (redblack): unfinished at {phase}, {deploy['started']:.1f}-" in "\n".join(
        summary.lines()
    )
    # Every instance that registered, the new group's too, is done in the graph.
    graph = read_graph_json(out / "graph.json")
    assert set(graph.done) == set(graph.nodes)
    per_source = written["source_seconds"] / written["traffic_sources"]
    traffic = next(line for line in summary.lines() if line.startswith("  traffic: "))
    assert f" asked, over {per_source:.1f} s of traffic" in traffic
    assert written["accounted"] is True, written["accounting_problems"]
