"""The real CLI against a real backend (Arize Phoenix on loopback), over OTLP gRPC and OTLP HTTP: what
Phoenix stored, read back over its REST API, is every span the summary says was exported, in whole
traces. Small on purpose (lamp, 2 s, 20 requests/s): Phoenix stores ~150-200 spans/s here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.otlp_receiver import missing_parents
from support.phoenix import PHOENIX_PROJECT_ATTRIBUTE, PhoenixServer, phoenix_installed

pytestmark = [
    pytest.mark.phoenix,
    pytest.mark.ray,
    pytest.mark.skipif(not phoenix_installed(), reason="Phoenix not installed (scripts/install_phoenix.sh)"),
]

CLI = Path(sys.executable).with_name("nanoservices")


@pytest.fixture(scope="module")
def phoenix() -> Iterator[PhoenixServer]:
    with PhoenixServer() as server:
        yield server


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_phoenix_stores_every_exported_span_in_whole_traces(
    phoenix: PhoenixServer, tmp_path: Path, protocol: str
) -> None:
    project = f"lamp-{protocol.replace('/', '-')}"  # one Phoenix project per run, chosen by resource
    endpoint = phoenix.otlp_grpc_endpoint if protocol == "grpc" else phoenix.otlp_http_endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_RESOURCE_ATTRIBUTES"] = f"{PHOENIX_PROJECT_ATTRIBUTE}={project}"
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    command = [str(CLI), "run", "lamp", "-d", "2", "--rate", "20", "-K", "100", "--out", str(tmp_path)]
    command += ["--otlp-endpoint", endpoint, "--otlp-protocol", protocol]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    exporters = summary["spans"]["exporters"]
    [(name, counts)] = [(n, c) for n, c in exporters.items() if not n.startswith("record:")]
    assert counts == {"exported": summary["spans"]["created"], "dropped": {}}, name
    # the expected record (for `nanoservices verify`) holds every span too, counted apart
    assert exporters["record:expected"] == {"exported": summary["spans"]["created"], "dropped": {}}
    exported = counts["exported"]
    assert exported > 50

    stored = phoenix.wait_for_spans(exported, timeout=90, project=project)

    assert len(stored) == exported, phoenix.log_tail()
    assert len({s["span_id"] for s in stored}) == exported
    assert missing_parents(stored) == {}
