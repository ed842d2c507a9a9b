"""`nanoservices verify` against a real backend: Arize Phoenix on loopback. A packed netflixoss run in
process exports over OTLP gRPC through its hosts' own HostTracing, whose record sinks write the expected
record; verify
then reads each trace back by id over Phoenix's REST API: every trace found intact, exit 0, time to
visible reported. Small on purpose: Phoenix stores ~150-200 spans/s on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.tracing import OtlpEndpoint
from support.phoenix import PHOENIX_PROJECT_ATTRIBUTE, PhoenixServer, phoenix_installed
from support.traced_run import host_traced_run

pytestmark = [
    pytest.mark.phoenix,
    pytest.mark.skipif(not phoenix_installed(), reason="Phoenix not installed (scripts/install_phoenix.sh)"),
]
TICKS = 20  # traces; ~320 spans


@pytest.fixture(scope="module")
def phoenix() -> Iterator[PhoenixServer]:
    with PhoenixServer() as server:
        yield server


def test_phoenix_keeps_every_trace_of_a_packed_netflixoss_run_intact(
    phoenix: PhoenixServer, tmp_path: Path
) -> None:
    project = "verify-netflixoss"
    endpoint = OtlpEndpoint(url=phoenix.otlp_grpc_endpoint, protocol="grpc")
    created = host_traced_run(TICKS, tmp_path, endpoint, ((PHOENIX_PROJECT_ATTRIBUTE, project),))
    flags = ["--backend", "phoenix", "--url", phoenix.base_url, "--project", project, "--wait", "90s"]
    result = CliRunner().invoke(app, ["verify", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output + result.stderr + phoenix.log_tail()
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["intact"] is True and report["backend"] == "phoenix"
    assert report["traces"] == {"expected": TICKS, "intact": TICKS, "not_found": 0, "with_problems": 0}
    assert report["spans"]["expected"] == report["spans"]["intact"] == created
    seen = report["time_to_visible"]
    assert seen["traces"] == TICKS and 0 <= seen["p50_s"] <= seen["p99_s"] <= seen["max_s"]
    assert f"{TICKS} of {TICKS} traces intact" in result.output
    assert "time to visible: p50 " in result.output


CLI = Path(sys.executable).with_name("nanoservices")


@pytest.mark.ray
def test_run_verify_phoenix_puts_the_verdict_in_the_summary(phoenix: PhoenixServer, tmp_path: Path) -> None:
    """The real CLI on Ray: a packed netflixoss run exporting to Phoenix, verified at its end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    command = [str(CLI), "run", "netflixoss", "-K", "100", "-d", "3", "--rate", "5", "--out", str(tmp_path)]
    command += ["--otlp-endpoint", phoenix.otlp_grpc_endpoint, "--otlp-protocol", "grpc"]
    command += ["--verify", f"phoenix={phoenix.base_url}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    verdict = summary["verify"]
    assert verdict["intact"] is True
    assert verdict["spans"]["intact"] == verdict["spans"]["expected"] == summary["spans"]["created"]
    assert verdict["traces"]["expected"] == verdict["traces"]["intact"] > 0
    assert verdict["time_to_visible"]["traces"] == verdict["traces"]["expected"]
    assert "traces intact; 0 not found, 0 with problems" in done.stdout
