"""`nanoservices run fsm -p 2000 -d 0` on a real (embedded, loopback) Ray: pirates packed per CPU,
spigo's Delivered line counted by the hosts, and a graph with every pirate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.builtin import fsm_plan
from nanoservices.cli import app
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.runtime.host import CONTROL_PLANE

pytestmark = pytest.mark.ray

PIRATES = 2000
MOVES_PER_PIRATE = 4  # two NameDrops, a GoldCoin and a Chat (packages/pirate.py)


def test_fsm_prints_the_delivered_line_and_graphs_every_pirate(ray_local: object, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "fsm", "-p", str(PIRATES), "-d", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    opening = [hop for hop in summary["hops"] if hop["from"] == CONTROL_PLANE]
    sent = sum(hop["sent"] for hop in opening)
    assert sent == MOVES_PER_PIRATE * PIRATES
    assert [hop["received"] for hop in opening] == [hop["sent"] for hop in opening]  # the hosts' count
    assert summary["fsm"]["sent"] == summary["fsm"]["delivered"] == sent
    lines = [line for line in result.output.splitlines() if line.startswith("  fsm: Delivered ")]
    assert len(lines) == 1, result.output
    assert re.fullmatch(rf"  fsm: Delivered {sent} messages in \d+(\.\d+)?(µs|ms|s)", lines[0]), lines[0]
    assert "traffic running for" not in result.output
    assert not any(line.startswith("  traffic: ") for line in result.output.splitlines())
    assert summary["hosts"] < PIRATES  # packed: no -K given
    graph = read_graph_json(tmp_path / "graph.json")
    pirates = {spec.node for spec in fsm_plan(PIRATES).instances}
    assert set(graph.nodes) == pirates and len(graph.nodes) == PIRATES
    assert set(graph.done) == pirates


@pytest.mark.heavy
@pytest.mark.parametrize("population", [100_000, 200_000])
def test_fsm_at_spigos_scale_finishes_with_every_pirate_and_the_delivered_line(
    tmp_path: Path, population: int
) -> None:
    """spigo's own benchmark sizes, as a user runs them: its own embedded Ray, one host per CPU."""
    import subprocess
    import sys

    cli = str(Path(sys.executable).with_name("nanoservices"))
    done = subprocess.run(
        [cli, "run", "fsm", "-p", str(population), "-d", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sent = MOVES_PER_PIRATE * population
    lines = [line for line in done.stdout.splitlines() if line.startswith("  fsm: Delivered ")]
    assert len(lines) == 1 and re.fullmatch(rf"  fsm: Delivered {sent} messages in \S+", lines[0]), lines
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accounted"] and summary["fsm"]["delivered"] == sent
    graph = read_graph_json(tmp_path / "graph.json")
    assert len(graph.nodes) == population and set(graph.done) == set(graph.nodes)
