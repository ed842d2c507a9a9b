"""Breaker events through a real Ray run: they reach events.jsonl through the live-progress poll
while traffic runs and with the final counts at shutdown, each transition once, in a legal order
per breaker, and as many as the hosts counted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nanoservices.architecture import parse_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.progress import Progress
from nanoservices.runtime.resilience import CLOSED
from nanoservices.simulation import run

pytestmark = pytest.mark.ray

TINY = [
    {"name": "db", "package": "store", "count": 1, "regions": 1, "errors": 1.0},
    {"name": "app", "package": "karyon", "count": 1, "regions": 1, "dependencies": ["db"]},
    {"name": "www", "package": "denominator", "count": 0, "dependencies": ["app"]},
]


def test_breaker_transitions_reach_events_jsonl_once_each_while_the_run_goes_on(
    ray_local: object, tmp_path: Path
) -> None:
    plan = expand(parse_architecture(json.dumps({"services": TINY}), "tiny_arch.json", "tiny"))
    said: list[str] = []
    polls: list[Progress] = []
    config = RunConfig(
        arch=plan.arch, duration=7.0, rate=20, out_dir=tmp_path, poll_interval=0.5, chaos=False, sources=1
    )  # one traffic source: every breaker belongs to an instance of the plan
    summary = run(config, plan, on_progress=said.append, on_live=polls.append)

    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    breakers = [e for e in events if e["kind"].startswith("breaker-")]
    assert len(breakers) == len(events) == len(set(lines))  # nothing else happened; no line twice
    assert Counter(e["to"] for e in breakers) == Counter(summary.clients["breaker_changes"])
    assert Counter(e["kind"] for e in breakers) == Counter(
        f"breaker-{e['to'].replace('_', '-')}" for e in breakers
    )
    callers = {s.name: (s.service, s.dependencies) for s in plan.instances}
    last: dict[tuple[str, str], str] = {}
    for e in sorted(breakers, key=lambda e: e["at"]):  # the file is in arrival order
        (instance,) = e["instances"]
        service, dependencies = callers[instance]
        assert (e["service"], e["versions"]) == (service, ["v1"]) and e["dependency"] in dependencies
        breaker = (instance, e["dependency"])
        assert e["from"] == last.get(breaker, CLOSED), e
        last[breaker] = e["to"]
        assert 0.0 <= e["at"] <= summary.traffic_seconds + config.request_timeout
    assert set(last) == {(s.name, d) for s in plan.instances for d in s.dependencies}
    # Some arrived with a live poll, before the run began to shut down.
    shutting = next(i for i, line in enumerate(said) if line.endswith("shutting down"))
    assert any(line.split("] ", 1)[1].startswith("circuit breakers: ") for line in said[:shutting]), said
    assert polls
