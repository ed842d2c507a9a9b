"""File flows: zipkin.json is valid Zipkin v2, flow.json has spigo's v1 shape and parent links.

Spans are made by the runtime's own span hooks (runtime/spans.py) on two HostTracing objects, as two
hosts would, and merged by write_flows from their byte parts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import Span, Tracer

from nanoservices.messages import Kind, Message, Status
from nanoservices.plan import InstanceSpec
from nanoservices.runtime import spans
from nanoservices.tracing import HostTracing, TracingSettings, write_flows
from nanoservices.tracing.flows import merge_parts, spigo_flow_text, to_spigo
from support.otlp_receiver import missing_parents
from support.zipkin_schema import spigo_layout_problems, spigo_v1_problems, zipkin_v2_problems

FLOWS = frozenset({"zipkin", "spigo"})


def spec(name: str, ip: str) -> InstanceSpec:
    fields = name.split(".")
    return InstanceSpec(
        name=name,
        node=".".join([*fields[:3], fields[4]]),
        service=fields[7],
        package=fields[8],
        region=fields[1],
        zone=fields[2],
        ip=ip,
        dependencies=(),
        cross_region=False,
    )


WWW = spec("lamp.*.*..www00...www.denominator", "54.198.0.10")
ELB = spec("lamp.us-east-1.*..webserver-elb00...webserver-elb.elb", "54.198.0.11")
WEB = spec("lamp.us-east-1.zoneC..webserver17...webserver.monolith", "50.19.0.7")
DB = spec("lamp.us-east-1.zoneB..rds-mysql01...rds-mysql.store", "54.221.0.9")


class Hops:
    """Makes client/server span pairs the way runtime/instance.py does."""

    def __init__(self, tracers: dict[str, Tracer]) -> None:
        self.tracers = tracers

    def send(
        self, caller: InstanceSpec, callee: InstanceSpec, parent: Span | None, kind: Kind
    ) -> tuple[Span, Span | None]:
        msg = Message(kind=kind, sender=caller.name, target=callee.name, request_id=1, reply_to=caller.name)
        client = spans.start_client(self.tracers[caller.name], parent, msg, callee.service, callee.ip)
        msg.trace = spans.traceparent(client)
        server = spans.start_server(self.tracers[callee.name], msg, callee.service, caller.ip)
        return client, server


def run_hosts() -> tuple[list[bytes], int]:
    """Two hosts; one GET trace www -> elb -> web -> db, a one-way Replicate, a request that timed out."""
    host_a = HostTracing(TracingSettings(flows=FLOWS), "host-0")
    host_b = HostTracing(TracingSettings(flows=FLOWS), "host-1")
    tracers = {s.name: host_a.tracer_for(s) for s in (WWW, ELB)} | {
        s.name: host_b.tracer_for(s) for s in (WEB, DB)
    }
    hops = Hops(tracers)
    c1, s1 = hops.send(WWW, ELB, None, Kind.GET_REQUEST)
    c2, s2 = hops.send(ELB, WEB, s1, Kind.GET_REQUEST)
    c3, s3 = hops.send(WEB, DB, s2, Kind.GET_REQUEST)
    for span in (s3, c3, s2, c2, s1, c1):
        assert span is not None
        spans.end(span, Status.OK, True)
    c4, s4 = hops.send(WEB, DB, None, Kind.REPLICATE)  # one-way: client ends at send, server after handling
    c4.end()
    assert s4 is not None
    s4.end()
    c5 = spans.start_client(
        tracers[WWW.name],
        None,
        Message(kind=Kind.GET_REQUEST, sender=WWW.name, target=ELB.name, request_id=2, reply_to=WWW.name),
        ELB.service,
        ELB.ip,
    )
    spans.end(c5, Status.TIMEOUT, True)  # lost on the way: no server span
    parts = [host_a.flow_part(), host_b.flow_part()]
    created = host_a.shutdown()["created"] + host_b.shutdown()["created"]
    return parts, created


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[str]]:
    parts, created = run_hosts()
    out = tmp_path_factory.mktemp("flows")
    return out, created, write_flows(out, set(FLOWS), parts)


def test_write_flows_returns_the_paths(written: tuple[Path, int, list[str]]) -> None:
    out, _, paths = written
    assert paths == [str(out / "zipkin.json"), str(out / "flow.json")]


def test_zipkin_file_is_valid_v2_with_every_span_and_whole_traces(
    written: tuple[Path, int, list[str]],
) -> None:
    out, created, _ = written
    v2 = json.loads((out / "zipkin.json").read_text())
    assert len(v2) == created == 9
    assert zipkin_v2_problems(v2) == []
    assert {s["kind"] for s in v2} == {"CLIENT", "SERVER"}
    assert all(len(s["traceId"]) == 32 for s in v2)
    as_records = [
        {"trace_id": s["traceId"], "span_id": s["id"], "parent_span_id": s.get("parentId", "")} for s in v2
    ]
    assert missing_parents(as_records) == {}
    by_service = {s["localEndpoint"]["serviceName"] for s in v2}
    assert by_service == {"www", "webserver-elb", "webserver", "rds-mysql"}
    timed_out = [s for s in v2 if s["tags"].get("error")]
    assert [(s["kind"], s["tags"]["error"], s["tags"]["http.response.status_code"]) for s in timed_out] == [
        ("CLIENT", "timeout", "504")
    ]
    client = next(
        s for s in v2 if s["kind"] == "CLIENT" and s["remoteEndpoint"].get("serviceName") == "rds-mysql"
    )
    assert client["remoteEndpoint"] == {"serviceName": "rds-mysql", "ipv4": DB.ip, "port": 8080}
    assert client["localEndpoint"] == {"serviceName": "webserver", "ipv4": WEB.ip, "port": 8080}


def test_spigo_flow_has_the_samples_layout_and_shape(
    written: tuple[Path, int, list[str]], shared_spigo: Path
) -> None:
    out, _, _ = written
    text = (out / "flow.json").read_text()
    sample = (shared_spigo / "samples" / "lamp_flow.json").read_text()
    assert spigo_layout_problems(sample) == []  # the checker agrees with spigo's own file
    assert spigo_v1_problems(json.loads(sample)) == []
    assert spigo_layout_problems(text) == []
    assert spigo_v1_problems(json.loads(text)) == []


def _hops(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "flow.json").read_text())


def test_a_hop_is_one_v1_span_with_the_client_id_and_linked_parents(
    written: tuple[Path, int, list[str]],
) -> None:
    out, _, _ = written
    v2 = {s["id"]: s for s in json.loads((out / "zipkin.json").read_text())}
    get_trace = [h for h in _hops(out) if h["name"] == "GetRequest" and len(h["annotations"]) == 4]
    assert len(get_trace) == 3
    first, second, third = get_trace
    assert "parentId" not in first
    assert second["parentId"] == first["id"]
    assert third["parentId"] == second["id"]
    assert all(v2[h["id"]]["kind"] == "CLIENT" for h in get_trace)
    assert [a["value"] for a in first["annotations"]] == ["cs", "sr", "ss", "cr"]
    assert [a["endpoint"]["serviceName"] for a in third["annotations"]] == [
        WEB.name,
        DB.name,
        DB.name,
        WEB.name,
    ]
    assert [a["endpoint"]["ipv4"] for a in third["annotations"]] == [WEB.ip, DB.ip, DB.ip, WEB.ip]
    for hop in get_trace:
        stamps = [a["timestamp"] for a in hop["annotations"]]
        assert stamps == sorted(stamps)
        assert len(hop["traceId"]) == 32


def test_one_way_and_lost_hops(written: tuple[Path, int, list[str]]) -> None:
    out, _, _ = written
    by_name = {h["name"]: h for h in _hops(out) if h["name"] == "Replicate"}
    assert [a["value"] for a in by_name["Replicate"]["annotations"]] == ["cs", "sr"]  # as spigo's Put
    lost = [h for h in _hops(out) if [a["value"] for a in h["annotations"]] == ["cs", "cr"]]
    assert len(lost) == 1  # a timed-out request: the caller's send and its failure, nothing served


def test_traces_are_grouped_in_the_file(written: tuple[Path, int, list[str]]) -> None:
    out, _, _ = written
    blocks = (out / "flow.json").read_text()[2:-3].split("\n,\n")
    trace_ids = [{json.loads(line.lstrip(","))["traceId"] for line in block.split("\n")} for block in blocks]
    assert all(len(ids) == 1 for ids in trace_ids)
    assert len(trace_ids) == 3


def v2(
    span_id: str, kind: str, parent: str | None = None, ts: int = 1, name: str = "GET /x"
) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": "a" * 32, "id": span_id, "kind": kind, "name": name}
    if parent:
        span["parentId"] = parent
    span |= {
        "timestamp": ts,
        "duration": 5,
        "localEndpoint": {"serviceName": "x", "ipv4": "1.2.3.4", "port": 8080},
    }
    span["tags"] = {"nanoservices.message.kind": "GET_REQUEST", "http.response.status_code": "200"}
    return span


def test_a_server_whose_caller_was_lost_keeps_the_callers_hop_id() -> None:
    orphan = v2("2" * 16, "SERVER", parent="1" * 16, ts=2)
    child = v2("3" * 16, "CLIENT", parent="2" * 16, ts=3)
    hops = to_spigo([orphan, child])[0]
    assert [(h["id"], h.get("parentId")) for h in hops] == [("1" * 16, None), ("3" * 16, "1" * 16)]
    assert [a["value"] for a in hops[0]["annotations"]] == ["sr", "ss"]


def test_a_root_server_span_is_its_own_hop() -> None:
    hops = to_spigo([v2("4" * 16, "SERVER")])[0]
    assert [(h["id"], h.get("parentId")) for h in hops] == [("4" * 16, None)]


def test_no_file_flows_writes_nothing(tmp_path: Path) -> None:
    assert write_flows(tmp_path / "out", {"console"}, [b"[]"]) == []
    assert not (tmp_path / "out").exists()
    assert json.loads(spigo_flow_text([])) == []


def hook_flows(path: str) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """run_hosts' traces made through the instances' span hooks on `path` (fast: records, no SDK spans)."""
    settings = TracingSettings(flows=FLOWS, span_path=path)  # type: ignore[arg-type]
    host_a, host_b = HostTracing(settings, "host-0"), HostTracing(settings, "host-1")
    ips = {s.name: s.ip for s in (WWW, ELB, WEB, DB)}
    hooks = {s.name: host_a.spans_for(s, 7, ips.__getitem__) for s in (WWW, ELB)} | {
        s.name: host_b.spans_for(s, 7, ips.__getitem__) for s in (WEB, DB)
    }

    def send(
        caller: InstanceSpec, callee: InstanceSpec, parent: Any, kind: Kind, at: float
    ) -> tuple[Any, Any]:
        msg = Message(kind=kind, sender=caller.name, target=callee.name, request_id=1, reply_to=caller.name)
        client = hooks[caller.name].client(parent, msg, at)
        return client, hooks[callee.name].server(msg, at + 0.001)

    c1, s1 = send(WWW, ELB, None, Kind.GET_REQUEST, 1.0)
    c2, s2 = send(ELB, WEB, s1, Kind.GET_REQUEST, 1.1)
    c3, s3 = send(WEB, DB, s2, Kind.GET_REQUEST, 1.2)
    for n, (span, name) in enumerate([(s3, DB), (c3, WEB), (s2, WEB), (c2, ELB), (s1, ELB), (c1, WWW)]):
        hooks[name.name].end(span, Status.OK, 1.5 + n / 10)
    c4, s4 = send(WEB, DB, None, Kind.REPLICATE, 3.0)
    hooks[WEB.name].close(c4, 3.0)
    hooks[DB.name].close(s4, 3.1)
    c5 = hooks[WWW.name].client(
        None, Message(kind=Kind.GET_REQUEST, sender=WWW.name, target=ELB.name, request_id=2), 4.0
    )
    hooks[WWW.name].end(c5, Status.TIMEOUT, 6.0)
    parts = [host_a.flow_part(), host_b.flow_part()]
    created = host_a.shutdown()["created"] + host_b.shutdown()["created"]
    return merge_parts(parts), parts, created


def without_ids(spans: list[dict[str, Any]]) -> list[str]:
    """Zipkin spans as text, ids and times aside, each parent named by its own name, kind and service."""
    by_id = {s["id"]: s for s in spans}

    def label(s: dict[str, Any]) -> str:
        return f"{s['name']}|{s.get('kind')}|{s['localEndpoint'].get('serviceName')}"

    out = []
    for s in spans:
        kept = {k: v for k, v in s.items() if k not in ("traceId", "id", "parentId", "timestamp", "duration")}
        kept["annotations"] = [a["value"] for a in s.get("annotations", [])]
        parent = by_id.get(s.get("parentId", ""))
        out.append(json.dumps([kept, label(parent) if parent else None], sort_keys=True))
    return sorted(out)


def test_span_hooks_on_both_paths_make_the_same_zipkin_spans_and_valid_flows(tmp_path: Path) -> None:
    fast, fast_parts, fast_created = hook_flows("fast")
    sdk, _, sdk_created = hook_flows("sdk")
    assert fast_created == sdk_created == len(fast) == len(sdk) == 9
    assert without_ids(fast) == without_ids(sdk)
    assert zipkin_v2_problems(fast) == []
    assert (
        missing_parents(
            [
                {"trace_id": s["traceId"], "span_id": s["id"], "parent_span_id": s.get("parentId", "")}
                for s in fast
            ]
        )
        == {}
    )
    write_flows(tmp_path, set(FLOWS), fast_parts)
    text = (tmp_path / "flow.json").read_text()
    assert spigo_layout_problems(text) == []
    assert spigo_v1_problems(json.loads(text)) == []
    timed_out = [s for s in fast if "error" in s["tags"]]
    assert [(s["tags"]["error"], s["duration"]) for s in timed_out] == [("timeout", 2_000_000)]


def test_console_flow_on_the_fast_path_prints_one_json_line_per_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tracing = HostTracing(TracingSettings(flows=frozenset({"console"})), "host-0")
    hooks = tracing.spans_for(WWW, 7, {ELB.name: ELB.ip}.__getitem__)
    span = hooks.client(
        None, Message(kind=Kind.GET_REQUEST, sender=WWW.name, target=ELB.name, request_id=1), 1.0
    )
    hooks.end(span, Status.ERROR, 2.0)
    assert tracing.shutdown(5)["exporters"]["console"] == {"exported": 1, "dropped": {}}
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert (line["name"], line["kind"], line["status"]) == (
        "GET /webserver-elb",
        "SpanKind.CLIENT",
        {"status_code": "ERROR", "description": "error"},
    )
    assert line["attributes"]["http.response.status_code"] == 500
    assert line["resource"]["attributes"]["service.name"] == "www"
    assert [e["name"] for e in line["events"]] == ["exception"]
