"""Graph JSON and GraphML writers: spigo's layout, edda's deduplication, and well-formed output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nanoservices.outputs.graph_json import (
    GraphSummary,
    graph_json_text,
    read_graph_json,
    rfc3339nano,
    write_graph_json,
)
from nanoservices.outputs.graphml import graphml_text, write_graphml
from nanoservices.outputs.names import short_name
from nanoservices.outputs.records import (
    DoneRecord,
    EdgeRecord,
    ExitReason,
    ForgetRecord,
    GraphRecord,
    NodeRecord,
)
from nanoservices.problems import InputError

SAMPLES = Path(__file__).resolve().parent / "data" / "spigo"
GML = "{http://graphml.graphdrawing.org/xmlns/graphml}"
PDT = timezone(timedelta(hours=-7))


def full(short: str, package: str) -> str:
    """A nine-field name for a sample's `arch.region.zone.instance` name."""
    arch, region, zone, instance = short.split(".")
    service = instance.rstrip("0123456789")
    return f"{arch}.{region}.{zone}..{instance}...{service}.{package}"


def when(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def sample_records(path: Path) -> tuple[dict[str, str], list[GraphRecord]]:
    """A spigo sample's header and its elements as the records that would have produced it."""
    document = json.loads(path.read_text())
    packages = {e["node"]: e["package"] for e in document["graph"] if "node" in e}
    records: list[GraphRecord] = []
    for e in document["graph"]:
        if "node" in e:
            ip = e["metadata"].removeprefix("IP/")
            records.append(NodeRecord(full(e["node"], e["package"]), e["package"], ip, when(e["timestamp"])))
        elif "edge" in e:
            source, target = (full(e[k], packages[e[k]]) for k in ("source", "target"))
            records.append(EdgeRecord(source, target, when(e["timestamp"])))
        elif "done" in e:
            name = full(e["done"], packages[e["done"]])
            records.append(DoneRecord(name, ExitReason(e["exit"]), when(e["timestamp"])))
    return document, records


def to_microseconds(text: str) -> str:
    """Our timestamps carry microseconds, spigo's nanoseconds: cut both to the same precision."""
    return re.sub(r"(:\d\d)\.(\d{1,9})(?=[-+Z])", lambda m: _cut(m[1], m[2]), text)


def _cut(seconds: str, fraction: str) -> str:
    kept = fraction[:6].rstrip("0")
    return f"{seconds}.{kept}" if kept else seconds


def name(region: str, zone: str, instance: str, package: str = "karyon") -> str:
    service = instance.rstrip("0123456789")
    return f"t.{region}.{zone}..{instance}...{service}.{package}"


A, B, C = (name("r", "zoneA", f"api0{i}") for i in range(3))
STYLE = {"arch": "t", "args": ["nanoservices", "run", "t"], "date": 0.0, "tz": timezone.utc}


def lines(records: list[GraphRecord], reduce: bool = False) -> list[dict[str, str]]:
    return json.loads(graph_json_text(records=records, reduce=reduce, **STYLE))["graph"]


@pytest.mark.parametrize("sample", ["lamp.json", "netflixoss.json"])
def test_writer_reproduces_spigo_sample_layout(sample: str) -> None:
    document, records = sample_records(SAMPLES / sample)
    args = document["args"].strip("[]").split(" ")
    text = graph_json_text(document["arch"], args, records, date=when(document["date"]), tz=PDT)
    expected = (SAMPLES / sample).read_text()
    assert to_microseconds(text).splitlines() == to_microseconds(expected).splitlines()
    assert text.endswith("\n  ]\n}\n")


@pytest.mark.parametrize("sample", ["lamp.json", "netflixoss.json"])
def test_round_trip_through_reader(sample: str, tmp_path: Path) -> None:
    document, records = sample_records(SAMPLES / sample)
    out = tmp_path / "json" / sample
    write_graph_json(out, document["arch"], ["spigo"], records)
    json.loads(out.read_text())
    ours, theirs = read_graph_json(out), read_graph_json(SAMPLES / sample)
    assert (ours.nodes, ours.packages, ours.edges, ours.done) == (
        theirs.nodes,
        theirs.packages,
        theirs.edges,
        theirs.done,
    )
    assert ours.edge_ids == theirs.edge_ids and ours.version == "spigo-0.4"


def test_header_and_element_shapes() -> None:
    records: list[GraphRecord] = [
        NodeRecord(A, "karyon", "54.198.0.1", 1.5),
        EdgeRecord(A, B, 2.0),
        ForgetRecord(A, B, 2.25),
        DoneRecord(A, ExitReason.CHAOS, 3.0),
    ]
    text = graph_json_text(records=records, **STYLE)
    assert text.splitlines() == [
        "{",
        '  "arch":"t",',
        '  "version":"spigo-0.4",',
        '  "args":"[nanoservices run t]",',
        '  "date":"1970-01-01T00:00:00Z",',
        '  "graph":[',
        '    {"node":"t.r.zoneA.api00","package":"karyon","timestamp":"1970-01-01T00:00:01.5Z",'
        '"metadata":"IP/54.198.0.1"},',
        '    {"edge":"e1","source":"t.r.zoneA.api00","target":"t.r.zoneA.api01",'
        '"timestamp":"1970-01-01T00:00:02Z"},',
        '    {"forget":"e1","source":"t.r.zoneA.api00","target":"t.r.zoneA.api01",'
        '"timestamp":"1970-01-01T00:00:02.25Z"},',
        '    {"done":"t.r.zoneA.api00","exit":"chaos","timestamp":"1970-01-01T00:00:03Z"}',
        "  ]",
        "}",
    ]


def test_empty_graph_is_valid_json() -> None:
    assert json.loads(graph_json_text(records=[], **STYLE))["graph"] == []


def test_dedup_follows_edda() -> None:
    node = NodeRecord(A, "karyon", "ip", 1.0)
    records: list[GraphRecord] = [
        node,
        node,
        EdgeRecord(A, B, 2.0),
        EdgeRecord(A, B, 2.1),
        EdgeRecord(A, C, 2.2),
        DoneRecord(B, ExitReason.NORMAL, 2.5),  # never registered: not logged
        DoneRecord(A, ExitReason.NORMAL, 3.0),
        DoneRecord(A, ExitReason.FAILURE, 3.1),
    ]
    graph = lines(records)
    assert [e.get("node") for e in graph if "node" in e] == ["t.r.zoneA.api00"]
    assert [(e["edge"], e["target"]) for e in graph if "edge" in e] == [
        ("e1", "t.r.zoneA.api01"),
        ("e2", "t.r.zoneA.api02"),
    ]
    assert [(e["done"], e["exit"]) for e in graph if "done" in e] == [("t.r.zoneA.api00", "normal")]


def test_forget_names_the_forgotten_edge_and_relearning_gets_a_new_id(tmp_path: Path) -> None:
    records: list[GraphRecord] = [
        EdgeRecord(A, B, 1.0),
        EdgeRecord(A, C, 1.1),
        ForgetRecord(A, C, 2.0),
        ForgetRecord(A, C, 2.1),  # already forgotten: not logged
        ForgetRecord(B, C, 2.2),  # never an edge: not logged
        EdgeRecord(A, C, 3.0),
        ForgetRecord(A, C, 4.0),
    ]
    graph = lines(records)
    assert [(k, e[k]) for e in graph for k in ("edge", "forget") if k in e] == [
        ("edge", "e1"),
        ("edge", "e2"),
        ("forget", "e2"),
        ("edge", "e3"),
        ("forget", "e3"),
    ]
    out = tmp_path / "g.json"
    write_graph_json(out, records=records, **STYLE)
    summary = read_graph_json(out)
    assert summary.forgets == {"e2": (short_name(A), short_name(C)), "e3": (short_name(A), short_name(C))}
    assert summary.live_edges == {(short_name(A), short_name(B))}
    assert summary.edges == {(short_name(A), short_name(B)), (short_name(A), short_name(C))}


def test_reduce_collapses_instances_of_a_zone() -> None:
    other_zone = name("r", "zoneB", "api03")
    db = name("r", "zoneA", "db00", "store")
    records: list[GraphRecord] = [
        NodeRecord(A, "karyon", "ip1", 1.0),
        NodeRecord(B, "karyon", "ip2", 1.1),
        NodeRecord(other_zone, "karyon", "ip3", 1.2),
        EdgeRecord(A, db, 2.0),
        EdgeRecord(B, db, 2.1),
        EdgeRecord(A, B, 2.2),
        EdgeRecord(A, other_zone, 2.3),
    ]
    graph = lines(records, reduce=True)
    assert [(e["node"], e["metadata"]) for e in graph if "node" in e] == [
        ("t.r.zoneA.api.karyon", "IP/ip1"),
        ("t.r.zoneB.api.karyon", "IP/ip3"),
    ]
    assert [(e["edge"], e["source"], e["target"]) for e in graph if "edge" in e] == [
        ("e1", "t.r.zoneA.api.karyon", "t.r.zoneA.db.store"),
        ("e2", "t.r.zoneA.api.karyon", "t.r.zoneA.api.karyon"),  # a self-loop, as spigo -f gives
        ("e3", "t.r.zoneA.api.karyon", "t.r.zoneB.api.karyon"),
    ]


def test_short_names() -> None:
    cass = "netflixoss.us-east-1.zoneA..cassSubscriber00...cassSubscriber.priamCassandra"
    assert short_name(cass) == "netflixoss.us-east-1.zoneA.cassSubscriber00"
    assert short_name(cass, reduce=True) == "netflixoss.us-east-1.zoneA.cassSubscriber.priamCassandra"
    assert short_name("a.r.z.m.i.c.p.s.pkg") == "a.r.z.m.i.c.pkg"
    assert short_name("too.short") == "too.short"


def test_timestamps_are_go_rfc3339nano() -> None:
    assert rfc3339nano(1466712842.5312138, PDT) == "2016-06-23T13:14:02.531214-07:00"
    assert rfc3339nano(1466712842.0, timezone(timedelta(hours=5, minutes=30))) == "2016-06-24T01:44:02+05:30"
    assert rfc3339nano(0.1, timezone.utc) == "1970-01-01T00:00:00.1Z"
    newfoundland = timezone(-timedelta(hours=3, minutes=30))
    assert rfc3339nano(0.000001, newfoundland) == "1969-12-31T20:30:00.000001-03:30"
    local = rfc3339nano(1466712842.25)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.25(Z|[-+]\d\d:\d\d)", local)
    assert datetime.fromisoformat(local).timestamp() == 1466712842.25


ODD = ['q"uote', "a<b>&c", "back\\slash", "ünï©ødé", "tab\there", "x\u2028y", "it's"]


@pytest.mark.parametrize("odd", ODD)
def test_odd_names_stay_valid_json_and_round_trip(odd: str, tmp_path: Path) -> None:
    weird = f"t.r.zoneA..{odd}...svc.karyon"
    records: list[GraphRecord] = [NodeRecord(weird, "kar<yon>", "ip", 1.0), EdgeRecord(weird, A, 2.0)]
    out = tmp_path / "g.json"
    write_graph_json(out, "t&<>", [odd], records, tz=timezone.utc)
    text = out.read_text(encoding="utf-8")
    assert "<" not in text and ">" not in text and "&" not in text  # Go's HTML-safe escaping
    summary = read_graph_json(out)
    assert summary.arch == "t&<>" and summary.args == f"[{odd}]"
    assert summary.nodes == [f"t.r.zoneA.{odd}"] and summary.packages[f"t.r.zoneA.{odd}"] == "kar<yon>"
    assert summary.edges == {(f"t.r.zoneA.{odd}", short_name(A))}


@pytest.mark.parametrize("odd", [*ODD, "ctrl\x01char"])
def test_odd_names_stay_well_formed_graphml(odd: str) -> None:
    weird = f"t.r.zoneA..{odd}...svc.karyon"
    records: list[GraphRecord] = [NodeRecord(weird, "p&<q>", "ip", 1.0), EdgeRecord(weird, A, 2.0)]
    graph = ET.fromstring(graphml_text(records).encode()).find(f"{GML}graph")
    assert graph is not None
    (node,) = graph.iter(f"{GML}node")
    (edge,) = graph.iter(f"{GML}edge")
    expected = f"t.r.zoneA.{odd}".replace("\x01", "\ufffd")
    assert node.get("id") == expected and edge.get("source") == expected
    assert node.findtext(f"{GML}data") == "p&<q>"


@pytest.mark.parametrize("sample", ["lamp.json", "netflixoss.json"])
def test_graphml_of_a_sample_parses_with_its_counts(sample: str, tmp_path: Path) -> None:
    _, records = sample_records(SAMPLES / sample)
    summary: GraphSummary = read_graph_json(SAMPLES / sample)
    out = tmp_path / "gml" / "g.graphml"
    write_graphml(out, records)
    root = ET.parse(out).getroot()
    graph = root.find(f"{GML}graph")
    assert graph is not None and graph.get("id") == "spigo" and graph.get("edgedefault") == "directed"
    keys = {k.get("id") for k in root.iter(f"{GML}key")}
    assert {"d0", "d1", "d2", "service"} <= keys
    nodes = [n.get("id") for n in graph.iter(f"{GML}node")]
    edges = {e.get("id"): (e.get("source"), e.get("target")) for e in graph.iter(f"{GML}edge")}
    assert nodes == summary.nodes
    assert edges == summary.edge_ids
    assert len(edges) == len(summary.edges)


def test_graphml_writes_each_node_and_pair_once() -> None:
    records: list[GraphRecord] = [
        NodeRecord(A, "karyon", "ip", 1.0),
        EdgeRecord(A, B, 1.1),
        ForgetRecord(A, B, 1.2),
        EdgeRecord(A, B, 1.3),
        DoneRecord(A, ExitReason.NORMAL, 2.0),
        NodeRecord(A, "karyon", "ip", 3.0),
    ]
    graph = ET.fromstring(graphml_text(records)).find(f"{GML}graph")
    assert graph is not None
    assert [n.get("id") for n in graph.iter(f"{GML}node")] == [short_name(A)]
    assert [e.get("id") for e in graph.iter(f"{GML}edge")] == ["e1"]


def test_reader_accepts_spigo_0_3(tmp_path: Path) -> None:
    old = {
        "arch": "fsm",
        "version": "spigo-0.3",
        "args": "[spigo -j]",
        "graph": [
            {"node": "Pirate1", "service": "pirate"},
            {"node": "Pirate2", "service": "pirate"},
            {"edge": "e1", "source": "Pirate1", "target": "Pirate2"},
            {"edge": "e2", "source": "Pirate1", "target": "Pirate2"},
        ],
    }
    path = tmp_path / "fsm.json"
    path.write_text(json.dumps(old))
    summary = read_graph_json(path)
    assert summary.packages == {"Pirate1": "pirate", "Pirate2": "pirate"}
    assert summary.edges == {("Pirate1", "Pirate2")} and summary.date == ""


@pytest.mark.parametrize("content", ['{"version":"spigo-9"}', "[]", "not json"])
def test_reader_refuses_unknown_files(content: str, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(InputError):
        read_graph_json(path)


@pytest.mark.parametrize("reduce", [False, True])
def test_graph_counts_describe_the_file_written(reduce: bool, tmp_path: Path) -> None:
    """The summary's node and edge counts come from graph_counts: with -f too they must be what
    graph.json holds (they once counted instances while the file held one node per zone)."""
    import asyncio

    from nanoservices.architecture import load_architecture
    from nanoservices.config import RunConfig
    from nanoservices.outputs.graph_json import graph_counts, write_graph_json
    from nanoservices.plan import expand
    from nanoservices.runtime.local import LocalRun

    root = Path(__file__).resolve().parents[1]
    plan = expand(load_architecture(root / "architectures" / "netflixoss_arch.json"), 300, 1)

    async def records() -> list[object]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=100))
        await run.start()
        return list(run.peers.records)

    found = asyncio.run(records())
    write_graph_json(tmp_path / "graph.json", plan.arch, (), found, reduce=reduce)  # type: ignore[arg-type]
    elements = json.loads((tmp_path / "graph.json").read_text())["graph"]
    counts = graph_counts(found, reduce)  # type: ignore[arg-type]
    assert counts["nodes"] == sum(1 for e in elements if "node" in e)
    assert counts["edges"] == sum(1 for e in elements if "edge" in e)
    if reduce:
        assert counts["nodes"] < len(plan.instances)  # one node per service and zone
    else:
        assert counts["nodes"] == len(plan.instances)
