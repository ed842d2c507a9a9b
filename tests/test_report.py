"""The run report without a browser: what load_run reads, the embedding, the vendored d3, the CLI."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.outputs import report, report_data, report_traces
from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.problems import InputError
from nanoservices.tracing import flows
from support.run_dir import (
    DEPLOY_AT,
    DRAIN,
    HOSTILE,
    PARTIAL,
    SECONDS,
    T0,
    Expected,
    write_large_graph,
    write_planned_run,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    out = tmp_path_factory.mktemp("planned")
    return out, write_planned_run(out)


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_one_line_refusal(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_graph_has_every_node_with_versions_and_exits_from_the_run(planned: tuple[Path, Expected]) -> None:
    out, expected = planned
    graph = report_data.load_run(out)["graph"]
    assert not graph["aggregated"]
    nodes = {n["name"]: n for n in graph["nodes"]}
    assert set(nodes) == set(read_graph_json(out / "graph.json").nodes) == expected.nodes
    assert {name: n["version"] for name, n in nodes.items() if n["version"]} == expected.versions
    assert {name: n["exit"] for name, n in nodes.items() if n["exit"] != "normal"} == expected.exits
    assert {nodes[name]["service"] for name in expected.versions} == {"homepage"}


def test_request_counts_per_instance_are_the_server_spans_of_the_flows(
    planned: tuple[Path, Expected],
) -> None:
    out, _ = planned
    spans = json.loads((out / "zipkin.json").read_text())
    fields = [s["tags"]["service.instance.id"].split(".") for s in spans]
    shorts = [".".join([*f[:3], f[4]]) for f in fields]  # arch.region.zone.instance
    served = Counter(shorts)
    failed = Counter(name for name, s in zip(shorts, spans, strict=True) if "error" in s["tags"])
    nodes = report_data.load_run(out)["graph"]["nodes"]
    assert {n["name"]: n["requests"] for n in nodes if n["requests"]} == dict(served)
    assert {n["name"]: n["errors"] for n in nodes if n["errors"]} == dict(failed)
    assert sum(n["requests"] for n in nodes) == len(spans)


def test_series_sum_zones_per_second_service_and_version(planned: tuple[Path, Expected]) -> None:
    out, _ = planned
    with (out / "timeseries.csv").open() as rows:
        table = list(csv.DictReader(rows))
    expected: Counter[tuple[str, str, int]] = Counter()
    for row in table:
        expected[(row["service"], row["version"], int(row["second"]))] += int(row["requests"])
    series = report_data.load_run(out)["series"]
    got = {
        (service, version, int(point[0])): point[1]
        for service, versions in series["services"].items()
        for version, points in versions.items()
        for point in points
    }
    charted = set(series["services"])
    assert got == {key: n for key, n in expected.items() if key[0] in charted and key[2] != DRAIN}
    assert len(charted) + series["omitted"] == len({row["service"] for row in table})
    assert series["seconds"] == 1 + max(int(row["second"]) for row in table) == DRAIN + 1
    assert series["totals"] == {s: sum(n for key, n in expected.items() if key[0] == s) for s in charted}


def test_a_partial_last_second_is_a_rate_over_its_part_and_replies_after_the_traffic_are_left_out(
    planned: tuple[Path, Expected],
) -> None:
    """The traffic ran SECONDS + PARTIAL seconds: second SECONDS covers PARTIAL of a second, so its
    rate is its count over PARTIAL (not a drop to a fraction); second DRAIN is after the traffic."""
    out, _ = planned
    series = report_data.load_run(out)["series"]
    assert series["end"] == SECONDS + PARTIAL
    assert series["left_out"] == [DRAIN]
    for versions in series["services"].values():
        to_the_end = [points for points in versions.values() if points[-1][0] == SECONDS]
        assert len(to_the_end) == 1  # the version serving at the end (v1 before a deploy ends earlier)
        for points in versions.values():
            assert [p[5] for p in points] == [1.0] * (len(points) - 1) + [points[-1][5]]
        (points,) = to_the_end
        assert points[-1][5] == PARTIAL
        rates = sorted(p[1] / p[5] for p in points[:-1])
        assert points[-1][1] / points[-1][5] > 0.3 * rates[len(rates) // 2]  # no drop at the end


def test_a_second_without_replies_inside_a_series_is_a_point_with_none(tmp_path: Path) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    rows = ["0,s0,v1,zoneA,5,0,1.5,3", "1,s0,v1,zoneA,6,1,2,4", "3,s0,v1,zoneA,5,0,1,2"]
    (tmp_path / "timeseries.csv").write_text(",".join(report_data.SERIES_FIELDS) + "\n" + "\n".join(rows))
    series = report_data.load_run(tmp_path)["series"]
    assert series["services"]["s0"]["v1"] == [
        [0, 5, 0, 1.5, 3.0, 1.0],
        [1, 6, 1, 2.0, 4.0, 1.0],
        [2, 0, 0, None, None, 1.0],
        [3, 5, 0, 1.0, 2.0, 1.0],
    ]
    assert series["left_out"] == []


def test_traces_are_the_slowest_a_failed_one_and_one_across_the_deploy(
    planned: tuple[Path, Expected],
) -> None:
    out, _ = planned
    spans = json.loads((out / "zipkin.json").read_text())
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["traceId"], []).append(span)
    bounds = {
        t: (min(s["timestamp"] for s in group), max(s["timestamp"] + s["duration"] for s in group))
        for t, group in by_trace.items()
    }
    traces = report_data.load_run(out)["traces"]
    shown = {t["label"]: t for t in traces["shown"]}
    assert list(shown) == ["slowest", "failed", "across the first deploy"]
    assert len({t["id"] for t in shown.values()}) == 3  # three different traces
    assert traces["file"] == "zipkin.json" and traces["notes"] == []
    slowest = shown["slowest"]
    assert slowest["ms"] == max(end - start for start, end in bounds.values()) / 1000
    assert slowest["ms"] == (bounds[slowest["id"]][1] - bounds[slowest["id"]][0]) / 1000
    assert any(s["error"] for s in shown["failed"]["rows"])
    assert any("error" in s.get("tags", {}) for s in by_trace[shown["failed"]["id"]])
    moment = (T0 + DEPLOY_AT) * 1_000_000
    others = {shown["slowest"]["id"], shown["failed"]["id"]}
    after = sorted((b[0] > moment, b[0], t) for t, b in bounds.items() if b[1] >= moment and t not in others)
    assert shown["across the first deploy"]["id"] == after[0][2]  # in flight then, else the next to start
    for trace in shown.values():
        assert len(trace["rows"]) == trace["spans"] == len(by_trace[trace["id"]])
        assert trace["rows"][0]["depth"] == 0
        assert trace["also"] == []


def span(trace: int, start: int, ms: int, error: bool = False) -> dict:
    tags = {"error": "timeout"} if error else {}
    return {"traceId": f"{trace:032x}", "id": f"{trace:016x}", "kind": "SERVER", "name": "get",
            "timestamp": start, "duration": ms * 1000, "tags": tags}  # fmt: skip


def test_the_slowest_trace_stands_for_the_failed_one_when_no_other_failed() -> None:
    picked = report_traces.pick_traces([span(1, 0, 90, error=True), span(2, 10, 5)], [], T0)
    shown = [(t["label"], t["also"], t["id"]) for t in picked["shown"]]
    assert shown == [("slowest", ["failed"], f"{1:032x}")]
    assert picked["notes"] == ["the slowest trace is also the failed one: no other trace failed"]


def test_a_failed_trace_other_than_the_slowest_is_shown_beside_it() -> None:
    spans = [span(1, 0, 90, error=True), span(2, 10, 50, error=True), span(3, 20, 5)]
    picked = report_traces.pick_traces(spans, [], T0)
    shown = [(t["label"], t["id"]) for t in picked["shown"]]
    assert shown == [("slowest", f"{1:032x}"), ("failed", f"{2:032x}")]
    assert picked["notes"] == []


def test_a_run_with_one_trace_says_so() -> None:
    events = [{"at": 0.0, "kind": "deploy-start"}]
    picked = report_traces.pick_traces([span(1, int(T0 * 1e6), 5)], events, T0)
    assert [(t["label"], t["also"]) for t in picked["shown"]] == [("slowest", ["across the first deploy"])]
    assert picked["notes"] == [
        "the run kept only one trace",
        "no trace failed",
        "the slowest trace is also the one in flight at the first deploy: no other trace was",
    ]


def test_without_zipkin_json_the_waterfalls_come_from_spigos_flow_json(tmp_path: Path) -> None:
    """`--flows spigo` only: flow.json's hops (a CLIENT and its SERVER span each) are the waterfall."""
    write_large_graph(tmp_path, instances=5, services=2)

    def name(service: str) -> str:
        return f"big.us-east-1.zoneA..{service}00...{service}.karyon"

    spans = []
    for k, (caller, callee, start, ms) in enumerate([("www", "elb", 0, 9), ("elb", "app", 1000, 7)]):
        client = {**span(1, start, ms), "id": f"c{k:015x}", "kind": "CLIENT"}
        client["tags"] = {"service.instance.id": name(caller), "http.response.status_code": "200"}
        server = {**span(1, start + 100, ms - 1), "id": f"s{k:015x}", "parentId": client["id"]}
        server["tags"] = {"service.instance.id": name(callee), "http.response.status_code": "200"}
        if k:
            client["parentId"] = "s000000000000000"
        spans += [client, server]
    (tmp_path / "flow.json").write_text(flows.spigo_flow_text(flows.to_spigo(spans)))
    traces = report_data.load_run(tmp_path)["traces"]
    assert traces["file"] == "flow.json" and traces["total"] == 1
    (trace,) = traces["shown"]
    rows = [(r["service"], r["depth"], r["name"]) for r in trace["rows"]]
    assert rows == [("elb", 0, "get from www"), ("app", 1, "get from elb")]
    assert trace["ms"] == 9


def test_above_the_limit_the_graph_is_one_node_per_service_and_zone(tmp_path: Path) -> None:
    expected = write_large_graph(tmp_path, instances=report_data.AGGREGATE_ABOVE + 1, services=7)
    graph = report_data.load_run(tmp_path)["graph"]
    assert graph["aggregated"]
    assert graph["instances"] == len(expected.nodes) == report_data.AGGREGATE_ABOVE + 1
    assert {(n["service"], n["region"], n["zone"]) for n in graph["nodes"]} == expected.groups
    assert len(graph["nodes"]) == len(expected.groups)
    assert sum(n["count"] for n in graph["nodes"]) == len(expected.nodes)


def test_at_the_limit_every_instance_is_drawn(tmp_path: Path) -> None:
    expected = write_large_graph(tmp_path, instances=report_data.AGGREGATE_ABOVE, services=7)
    graph = report_data.load_run(tmp_path)["graph"]
    assert not graph["aggregated"]
    assert len(graph["nodes"]) == len(expected.nodes)


def test_embedded_json_cannot_close_its_script_block(planned: tuple[Path, Expected]) -> None:
    out, _ = planned
    page = report.render(report_data.load_run(out))
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert block is not None
    assert "<" not in block.group(1)
    events = json.loads(block.group(1))["events"]
    assert [e for e in events if e.get("note") == HOSTILE]
    assert page.count("<script") == 3  # data, vendored d3, the report's own script


def test_the_page_holds_every_vendored_module_and_loads_nothing(planned: tuple[Path, Expected]) -> None:
    out, _ = planned
    page = report.render(report_data.load_run(out))
    for name in report.D3_MODULES:
        script = (report.VENDOR / name / f"{name}.min.js").read_text()
        assert script.startswith(f"// https://d3js.org/{name}/ v")
        assert script in page
    assert "default-src 'none'" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_vendor_directory_is_exactly_the_listed_modules_with_licences() -> None:
    directories = {p.name for p in report.VENDOR.iterdir() if p.is_dir()}
    assert directories == set(report.D3_MODULES)
    for name in report.D3_MODULES:
        assert sorted(p.name for p in (report.VENDOR / name).iterdir()) == ["LICENSE", f"{name}.min.js"]
        assert "Permission to use, copy, modify" in (report.VENDOR / name / "LICENSE").read_text()
        assert "</script" not in (report.VENDOR / name / f"{name}.min.js").read_text().lower()


def test_optional_files_may_be_absent(tmp_path: Path) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    data = report_data.load_run(tmp_path)
    assert (data["events"], data["series"], data["histograms"], data["traces"]) == ([], None, None, None)
    assert data["files"] == ["graph.json", "summary.json"]


def test_cli_writes_the_report_and_says_where(planned: tuple[Path, Expected]) -> None:
    out, _ = planned
    (out / "report.html").unlink(missing_ok=True)
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out / 'report.html'}\n"
    assert (out / "report.html").read_text().startswith("<!doctype html>")


def test_cli_refuses_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert_one_line_refusal(invoke("report", str(missing)), str(missing), "no such run directory")


@pytest.mark.parametrize("absent", ["summary.json", "graph.json"])
def test_cli_refuses_a_run_without_a_required_file(tmp_path: Path, absent: str) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    (tmp_path / absent).unlink()
    assert_one_line_refusal(invoke("report", str(tmp_path)), str(tmp_path / absent), "missing")
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("graph.json", '{"version": "spigo-0.4", "graph": [', "graph.json: not JSON"),
        ("summary.json", "[1, 2]", "summary.json: expected a JSON object"),
        ("zipkin.json", '{"spans": 1}', "zipkin.json: expected a list of spans"),
        ("flow.json", '{"hops": 1}', "flow.json: expected spigo's list of hops"),
        ("histograms.json", "{", "histograms.json: not JSON"),
        ("events.jsonl", '{"at": 1, "kind": "promote"}\n{"at": "soon"}\n', "events.jsonl:2: not an event"),
        ("timeseries.csv", "second,service\n", "timeseries.csv:1: expected the header"),
        (
            "timeseries.csv",
            ",".join(report_data.SERIES_FIELDS) + "\n1,a,v1,z,x,0,1,2\n",
            "timeseries.csv:2: bad row",
        ),
    ],
)
def test_cli_refuses_a_corrupt_file_naming_it(tmp_path: Path, name: str, text: str, where: str) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    (tmp_path / name).write_text(text)
    assert_one_line_refusal(invoke("report", str(tmp_path)), str(tmp_path / where.split(":")[0]) + ":" +
                            where.split(":", 1)[1], "rerun")  # fmt: skip


def test_write_report_raises_input_error_for_callers(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        report.write_report(tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'summary.json'}: missing; it is written by `nanoservices run`; "
        "pass the --out directory of a finished run"
    ]


def test_breaker_events_beyond_the_limit_are_left_out_of_the_page_and_counted(tmp_path: Path) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    limit = report_data.MAX_BREAKER_EVENTS
    lines = [{"at": 3.0, "kind": "deploy-start", "service": "s0"}]
    for i in range(limit + 3):  # written in arrival order, latest first: the earliest are drawn
        at = float(limit + 3 - i)
        lines.append({"at": at, "kind": "breaker-open", "service": "s1", "instances": [f"i{i}"],
                      "dependency": "s0", "from": "closed", "to": "open"})  # fmt: skip
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    data = report_data.load_run(tmp_path)
    assert data["breakers_omitted"] == 3
    drawn = [e for e in data["events"] if e["kind"] == "breaker-open"]
    assert sorted(e["at"] for e in drawn) == [float(n) for n in range(1, limit + 1)]
    assert data["events"][0]["kind"] == "deploy-start" and len(data["events"]) == limit + 1


def test_a_few_breaker_events_are_all_drawn(tmp_path: Path) -> None:
    write_large_graph(tmp_path, instances=5, services=2)
    kinds = ["breaker-open", "breaker-half-open", "breaker-closed"]
    lines = [{"at": float(i), "kind": k, "service": "s1", "dependency": "s0"} for i, k in enumerate(kinds)]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    data = report_data.load_run(tmp_path)
    assert [e["kind"] for e in data["events"]] == kinds and data["breakers_omitted"] == 0
