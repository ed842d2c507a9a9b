"""The Ray side of a lost traffic source: the host running the global `www` denominator dies
(ray.kill, as kill -9 of its process) mid-run. Its requests stay in the summary, from the last live
figures the supervisor polled, and the run is NOT accounted for, naming the host."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.progress import Progress
from nanoservices.simulation import run

pytestmark = pytest.mark.ray


def test_the_host_of_the_traffic_source_dying_leaves_its_requests_counted_and_not_accounted_for(
    ray_local: object, tmp_path: Path, tiny_arch: Path
) -> None:
    import ray

    plan = expand(load_architecture(tiny_arch))
    www = next(s for s in plan.instances if s.service == "www")
    host_index = plan.instances.index(www)  # K=1: host i runs instance i
    seen = threading.Event()
    issued_seen: list[int] = []
    result: dict[str, object] = {}

    def on_live(progress: Progress) -> None:
        if progress.issued and not seen.is_set():
            issued_seen.append(progress.issued)  # the supervisor has these figures of the source
            seen.set()

    def simulate_in_background() -> None:
        config = RunConfig(  # one source worker: the lone traffic source is what dies
            arch=plan.arch, duration=8.0, out_dir=tmp_path, chaos=False, poll_interval=0.25, sources=1
        )
        result["summary"] = run(config, plan, on_live=on_live)

    worker = threading.Thread(target=simulate_in_background)
    worker.start()
    try:
        assert seen.wait(timeout=180)
        ray.kill(ray.get_actor(f"host:{host_index}"), no_restart=True)
    finally:
        worker.join(timeout=180)
    summary = result["summary"]
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["accounted"] is False
    assert written["hosts_died"] == {str(host_index): "ActorDiedError"}
    (lost,) = written["counts_lost"]
    assert lost["host"] == host_index and lost["traffic_source"] and lost["services"] == ["www"]
    assert lost["issued"] >= issued_seen[0] > 0
    assert written["requests_issued"] == lost["issued"] == written["requests_lost_with_hosts"]
    lines = summary.lines()  # type: ignore[attr-defined]
    assert lines[2].endswith(" issued on hosts whose counts died (their ends unknown): NOT accounted for")
    assert any(
        line.startswith(f"    not checked: host {host_index} (www: 1 instance), died") for line in lines
    )
