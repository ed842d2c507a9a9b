"""Issue 16's cluster acceptance for traffic sources that scale out: on a 3-zone cluster whose zones
are Ray nodes (plus the head), a traced, packed netflixoss run has a source worker on every node,
every entry request is one whole trace, and the run is accounted for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from support.clusters import ZonedCluster
from support.otlp_receiver import OtlpReceiver

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("nanoservices"))


@pytest.mark.heavy
@pytest.mark.timeout(900)
def test_a_traced_cluster_run_has_a_source_worker_on_every_node_and_whole_traces(tmp_path: Path) -> None:
    zoned = ZonedCluster()
    try:
        # the cluster's own books, not ray.nodes(): this process may already be connected to another Ray
        nodes = {str(zoned.cluster.head_node.node_id), *zoned.zone_of_node}
        path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        with OtlpReceiver() as receiver:
            args = ["netflixoss", "-K", "100", "-d", "4", "--rate", "50", "--address", zoned.address]
            args += ["--otlp-endpoint", receiver.otlp_grpc_endpoint, "--otlp-protocol", "grpc"]
            done = subprocess.run(
                [CLI, "run", *args, "--out", str(tmp_path)],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            summary = json.loads((tmp_path / "summary.json").read_text())
            created = summary["spans"]["created"]
            assert receiver.wait_for(created, timeout=60), (receiver.count, created)
            spans = receiver.spans()
            missing = receiver.missing_parents()
            traces = receiver.traces()
    finally:
        zoned.shutdown()
    assert summary["accounted"], summary["accounting_problems"]
    workers = summary["sources"]
    assert len(workers) == len(nodes) == 4  # the head and the three zones' nodes
    assert {w["node"] for w in workers} == nodes
    assert sum(w["issued"] for w in workers) == summary["requests_issued"] > 0
    assert missing == {}
    roots = [s for s in spans if not s.parent_span_id and s.resource.get("service.name") == "www"]
    assert len(roots) == summary["requests_issued"]  # one trace per entry request (chaos: an event span)...
    assert all(sum(1 for s in trace if not s.parent_span_id) == 1 for trace in traces.values())  # ...whole
    by_worker = Counter(r.resource["nanoservices.source.worker"] for r in roots)
    assert by_worker == {w["worker"]: w["issued"] for w in workers}
    assert len({r.resource["service.instance.id"] for r in roots}) == 4
