"""The real CLI in a subprocess (`nanoservices run netflixoss -d 5 -K 100`: ~10 Ray actors on loopback),
exporting to the in-process OTLP receiver: every span created arrives, every trace is whole, and the
summary's counts agree with what the backend received."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nanoservices.catalog import resolve_plan
from support.events import timeline_events
from support.otlp_receiver import OtlpReceiver, missing_parents
from support.zipkin_schema import spigo_layout_problems, spigo_v1_problems, zipkin_v2_problems

pytestmark = pytest.mark.ray

CLI = Path(sys.executable).with_name("nanoservices")
RUN_TIMEOUT_S = 240


def clean_env() -> dict[str, str]:
    """The test's environment without OTEL_* variables, so only the flags under test apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep Ray on 127.0.0.1
    return env


def run_cli(
    out: Path, *args: str, arch: str = "netflixoss"
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    command = [str(CLI), "run", arch, "-K", "100", "--out", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=clean_env())
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done, json.loads((out / "summary.json").read_text())


def services_with_traffic(arch: str) -> set[str]:
    """Services reachable from the traffic root through dependencies: each of them serves requests."""
    plan = resolve_plan(arch)
    assert plan.root is not None
    dependencies = {s.service: s.dependencies for s in plan.instances}
    seen: set[str] = set()
    stack = [plan.root.service]
    while stack:
        service = stack.pop()
        if service not in seen:
            seen.add(service)
            stack.extend(dependencies.get(service, ()))
    return seen


def exporter_counts(summary: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    [(name, counts)] = [(n, c) for n, c in summary["spans"]["exporters"].items() if n.startswith(prefix)]
    return name, counts


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_every_span_arrives_and_every_trace_is_whole(tmp_path: Path, protocol: str) -> None:
    with OtlpReceiver() as receiver:
        port = receiver.http_port if protocol == "http/protobuf" else receiver.grpc_port
        endpoint = f"http://127.0.0.1:{port}"
        flows = ["--flows", "zipkin,spigo"] if protocol == "grpc" else []
        done, summary = run_cli(
            tmp_path, "-d", "5", "--otlp-endpoint", endpoint, "--otlp-protocol", protocol, *flows
        )
        created = summary["spans"]["created"]
        _, counts = exporter_counts(summary, "otlp-")
        assert created > 1_000
        assert counts == {"exported": created, "dropped": {}}
        assert receiver.wait_for(created, timeout=10)
        assert receiver.count == created
        records = receiver.spans()
    assert missing_parents(records) == {}
    assert {r.kind for r in records} >= {"CLIENT", "SERVER"}
    serving = {r.resource["service.name"] for r in records if r.kind == "SERVER"}
    assert serving >= services_with_traffic("netflixoss") - {resolve_plan("netflixoss").root.service}  # type: ignore[union-attr]
    assert {r.resource["service.name"] for r in records} >= services_with_traffic("netflixoss")
    assert "warning" not in done.stdout
    if protocol == "grpc":  # the same run also wrote the file flows
        assert_flow_files(tmp_path, summary, records)


def assert_flow_files(out: Path, summary: dict[str, Any], records: list[Any]) -> None:
    assert sorted(Path(p).name for p in summary["files"] if p.endswith(("zipkin.json", "flow.json"))) == [
        "flow.json",
        "zipkin.json",
    ]
    v2 = json.loads((out / "zipkin.json").read_text())
    assert summary["spans"]["exporters"]["flows"] == {"exported": len(v2), "dropped": {}}
    assert zipkin_v2_problems(v2) == []
    assert {s["id"] for s in v2} == {r.span_id for r in records}
    text = (out / "flow.json").read_text()
    assert spigo_layout_problems(text) == []
    hops = json.loads(text)
    assert spigo_v1_problems(hops) == []
    assert len(hops) == sum(1 for s in v2 if s.get("kind") == "CLIENT") + sum(
        1 for s in v2 if s.get("kind") == "SERVER" and "parentId" not in s
    )
    ids = {h["id"] for h in hops}
    assert all(h["parentId"] in ids for h in hops if "parentId" in h)
    assert any(len(h["annotations"]) == 4 for h in hops)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_only_produces_counted_drops_and_a_warning(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    done, summary = run_cli(tmp_path, "-d", "2", "--otlp-endpoint", endpoint, "--otlp-protocol", "grpc")
    created = summary["spans"]["created"]
    _, counts = exporter_counts(summary, "otlp-grpc")
    assert created > 0
    assert counts["exported"] == 0
    assert sum(counts["dropped"].values()) == created
    assert summary["spans_dropped"] == created
    warnings = [line for line in done.stdout.splitlines() if "warning" in line and "dropped" in line]
    assert len(warnings) == 1, done.stdout


def test_chaos_kill_at_one_actor_per_instance_loses_no_span(tmp_path: Path, tiny_arch: Path) -> None:
    """K=1: chaos monkey ray.kills the victim's host. Its spans are flushed first and its open spans
    ended as failed, so every trace stays whole and the counts still add up."""
    with OtlpReceiver() as receiver:
        endpoint = f"http://127.0.0.1:{receiver.grpc_port}"
        _, summary = run_cli(
            tmp_path,
            *("-K", "1", "-d", "4", "--rate", "50", "-u", "0.25"),
            *("--otlp-endpoint", endpoint, "--otlp-protocol", "grpc"),
            arch=str(tiny_arch),
        )
        [event] = summary["events"]
        assert event["method"] == "ray.kill"
        created = summary["spans"]["created"]
        _, counts = exporter_counts(summary, "otlp-grpc")
        assert counts == {"exported": created, "dropped": {}}
        assert receiver.wait_for(created, timeout=10)
        assert receiver.count == created
        records = receiver.spans()
    assert missing_parents(records) == {}
    instances = len(resolve_plan(str(tiny_arch)).instances) + max(0, len(summary["sources"]) - 1)  # workers
    assert summary["accounted"] and summary["instances_started"] == summary["instances_stopped"] == instances
    # The proxy in the victim's zone routes only to it: its requests fail, and say so in their spans.
    assert summary["requests_failed_total"] > 0
    assert any(r.kind == "CLIENT" and r.status_code == "ERROR" for r in records)


def test_deploy_events_reach_the_backend_as_asgard_spans_and_are_counted(
    tmp_path: Path, tiny_arch: Path
) -> None:
    """A traced run with a red/black deploy: every timeline event is also a span of service
    `asgard`, and the span totals (created = exported) include them."""
    scenario = tmp_path / "deploy.yaml"
    scenario.write_text("timeline:\n  - at: 1s\n    deploy: {service: app, version: v2, keep: 1s}\n")
    with OtlpReceiver() as receiver:
        endpoint = f"http://127.0.0.1:{receiver.grpc_port}"
        flags = ["-d", "8", "--no-chaos", "--scenario", str(scenario), "--otlp-endpoint", endpoint]
        _, summary = run_cli(tmp_path / "run", *flags, arch=str(tiny_arch))
        created = summary["spans"]["created"]
        assert receiver.wait_for(created, timeout=10) and receiver.count == created
        records = receiver.spans()
    events = timeline_events(tmp_path / "run")
    asgard = [r for r in records if r.resource["service.name"] == "asgard"]
    assert sorted(r.attributes["nanoservices.event"] for r in asgard) == sorted(e["kind"] for e in events)
    assert {r.name for r in asgard} >= {"deploy-start app", "traffic-shift app", "promote app"}
    assert {r.resource["service.version"] for r in records if r.resource["service.name"] == "app"} == {
        "v1",
        "v2",
    }
