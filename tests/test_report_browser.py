"""report.html in a real browser: headless Chromium over the DevTools protocol (tests/support/cdp.py).

The page is loaded from file:// and must log no error, request nothing but itself, draw one graph
node per instance (or per service and zone when aggregated) and one timeline mark per event line.
Screenshots go to the test's tmp dir and to runs/ for a person to look at. Set
NANOSERVICES_REPORT_RUN=<run dir> to check a real run's directory as well.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nanoservices.outputs.graph_json import read_graph_json
from nanoservices.outputs.report import write_report
from support.cdp import Browser, chromium_path
from support.run_dir import HOSTILE, Expected, write_large_graph, write_planned_run

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed: `apt-get install chromium` (.ci/run does) to run the browser tests",
)
RUNS = Path(__file__).resolve().parent.parent / "runs"
DESKTOP = (1600, 1000)
LAPTOP = (1280, 800)


@dataclass
class Page:
    errors: list[str]
    requests: list[str]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chrome = Browser(tmp_path_factory.mktemp("chromium-profile"))
    for domain in ("Runtime", "Log", "Network", "Page"):
        chrome.page(f"{domain}.enable")
    yield chrome
    chrome.close()


def load(browser: Browser, page: Path, size: tuple[int, int], screenshot: Path | None = None) -> Page:
    """Open the page at a viewport size; every error and request from navigation to load is collected."""
    width, height = size
    browser.page(
        "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
    )
    browser.events.clear()
    browser.page("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    state = browser.evaluate(
        """({
          report: window.nanoservicesReport || null,
          nodes: document.querySelectorAll("#graph circle.node").length,
          events: document.querySelectorAll("#timeline g.event").length,
          aggregatedNote: document.getElementById("graph-note").textContent,
          scrollWidth: document.documentElement.scrollWidth,
          escaped: window.escaped || 0,
          strokes: Object.fromEntries(Array.from(document.querySelectorAll("#graph circle.node"),
            (c) => [c.dataset.name, getComputedStyle(c).stroke])),
          sections: ["graph", "timeline", "charts", "histograms", "traces"].map(
            (id) => [id, document.getElementById(id).getBoundingClientRect().height]),
        })"""
    )
    if screenshot is not None:
        browser.screenshot(screenshot)
    errors, requests = [], []
    for event in browser.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(str(params["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert", "warning"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
    return Page(errors, requests, state)


def assert_clean(page: Page, report: Path) -> None:
    assert page.errors == []
    assert page.requests == [report.as_uri()]
    assert page.state["report"]["ready"] is True
    assert page.state["escaped"] == 0


def event_lines(run: Path) -> int:
    events = run / "events.jsonl"
    return sum(1 for line in events.read_text().splitlines() if line.strip()) if events.exists() else 0


def keep(screenshot: Path, name: str) -> None:
    RUNS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, RUNS / name)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    out = tmp_path_factory.mktemp("planned-run")
    expected = write_planned_run(out)
    write_report(out)
    return out, expected


def test_a_planned_run_renders_every_node_and_event_and_fetches_nothing(
    browser: Browser, planned: tuple[Path, Expected], tmp_path: Path
) -> None:
    out, expected = planned
    report = out / "report.html"
    shot = tmp_path / "report-1600x1000.png"
    page = load(browser, report, DESKTOP, shot)
    assert_clean(page, report)
    assert page.state["nodes"] == len(read_graph_json(out / "graph.json").nodes) == len(expected.nodes)
    assert page.state["events"] == event_lines(out) == expected.events
    assert all(height > 0 for _, height in page.state["sections"]), page.state["sections"]
    strokes = page.state["strokes"]
    by_version = {v: {strokes[n] for n, seen in expected.versions.items() if seen == v} for v in ("v1", "v2")}
    plain = {strokes[n] for n in expected.nodes - expected.versions.keys()}
    assert [len(by_version["v1"]), len(by_version["v2"]), len(plain)] == [1, 1, 1]  # one ring colour each
    assert len(by_version["v1"] | by_version["v2"] | plain) == 3  # versions told apart from each other
    assert shot.stat().st_size > 0
    keep(shot, "report-screenshot.png")


def test_the_page_fits_a_laptop_screen_without_sideways_scrolling(
    browser: Browser, planned: tuple[Path, Expected], tmp_path: Path
) -> None:
    out, expected = planned
    report = out / "report.html"
    shot = tmp_path / "report-1280x800.png"
    page = load(browser, report, LAPTOP, shot)
    assert_clean(page, report)
    assert page.state["scrollWidth"] == LAPTOP[0]
    assert page.state["nodes"] == len(expected.nodes)
    keep(shot, "report-screenshot-laptop.png")


def test_ten_thousand_instances_render_aggregated_per_service_and_zone(
    browser: Browser, tmp_path: Path
) -> None:
    expected = write_large_graph(tmp_path, instances=10_000, services=50)
    report = write_report(tmp_path)
    shot = tmp_path / "report-10000.png"
    page = load(browser, report, DESKTOP, shot)
    assert_clean(page, report)
    assert page.state["nodes"] == len(expected.groups) == 150
    assert page.state["aggregatedNote"].startswith("Aggregated: 10,000 instances are more than 2,000")
    assert page.state["events"] == 0
    got = browser.evaluate(LAYOUT)
    assert len(got["labels"]) == len(got["groups"]) == 150  # a label per service and zone
    assert all(inside(label, got["cells"][cell]) for _, cell, label in got["labels"])
    assert all(inside(node, got["cells"][cell]) for cell, node in got["nodes"])
    keep(shot, "report-screenshot-10000.png")


def test_the_checks_see_errors_and_blocked_loads(browser: Browser, planned: tuple[Path, Expected]) -> None:
    """The harness itself: a page that throws, logs an error and tries to load an image is caught."""
    out, _ = planned
    bad = out / "bad.html"
    page_text = (out / "report.html").read_text()
    image = '<img src="file:///nonexistent.png">'
    extra = image + '<script>console.error("logged"); throw new Error("thrown");</script>'
    bad.write_text(page_text.replace("</body>", extra + "</body>"))
    page = load(browser, bad, DESKTOP)
    assert any("logged" in error for error in page.errors)
    assert any("thrown" in error for error in page.errors)
    assert any("Content Security Policy" in error and "nonexistent.png" in error for error in page.errors)


@pytest.mark.skipif(
    not os.environ.get("NANOSERVICES_REPORT_RUN"), reason="set NANOSERVICES_REPORT_RUN=<run dir>"
)
def test_a_real_run_directory(browser: Browser, tmp_path: Path) -> None:
    run = Path(os.environ["NANOSERVICES_REPORT_RUN"])
    report = write_report(run)
    shot = tmp_path / "report-run.png"
    page = load(browser, report, DESKTOP, shot)
    assert_clean(page, report)
    graph = read_graph_json(run / "graph.json")
    if len(graph.nodes) <= 2_000:
        assert page.state["nodes"] == len(graph.nodes)
    assert page.state["events"] == event_lines(run)
    keep(shot, "report-screenshot-run.png")


@pytest.mark.heavy
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "flags",
    [["netflixoss", "-d", "10"], ["netflix", "-p", "1000", "-K", "100", "-d", "10"]],
    ids=["netflixoss", "netflix-p1000-packed"],
)
def test_the_report_of_a_real_run_in_the_browser(browser: Browser, tmp_path: Path, flags: list[str]) -> None:
    """Issue 12's acceptance runs, as a user makes them: the CLI writes report.html itself."""
    import subprocess
    import sys

    out = tmp_path / "run"
    cli = Path(sys.executable).with_name("nanoservices")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run(
        [str(cli), "run", *flags, "--out", str(out)], capture_output=True, text=True, timeout=800, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = out / "report.html"
    shot = tmp_path / "report-run.png"
    page = load(browser, report, DESKTOP, shot)
    assert_clean(page, report)
    graph = read_graph_json(out / "graph.json")
    if len(graph.nodes) <= 2_000:
        assert page.state["nodes"] == len(graph.nodes)
    assert page.state["events"] == event_lines(out)
    keep(shot, f"report-screenshot-{flags[0]}.png")


def test_breaker_events_draw_one_band_per_breaker_and_say_what_is_left_out(
    browser: Browser, tmp_path: Path
) -> None:
    """Two callers' breakers for one dependency, open -> half-open -> closed each, plus more
    transitions than the page draws: one band per breaker (not paired across callers), a note."""
    from nanoservices.outputs.report_data import MAX_BREAKER_EVENTS

    write_large_graph(tmp_path, instances=5, services=2)

    def breaker(at: float, state: str, caller: str) -> dict[str, object]:
        return {"at": at, "kind": f"breaker-{state}", "service": "s1", "versions": ["v1"],
                "instances": [caller], "dependency": "s0"}  # fmt: skip

    lines = [
        *(breaker(1.0, "open", "a"), breaker(1.5, "open", "b")),
        *(breaker(6.0, "half-open", "a"), breaker(6.0, "closed", "a")),
        *(breaker(6.5, "half-open", "b"), breaker(6.5, "closed", "b")),
    ]
    lines += [breaker(10.0 + i, "open", f"c{i}") for i in range(MAX_BREAKER_EVENTS)]  # never closed: no band
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    report = write_report(tmp_path)
    page = load(browser, report, DESKTOP)
    assert_clean(page, report)
    assert page.state["events"] == MAX_BREAKER_EVENTS
    bands = browser.evaluate(
        """Array.from(document.querySelectorAll("#timeline rect.event-span"), (r) => r.__data__)
             .map((b) => [b.from.instances[0], b.from.at, b.to.at])"""
    )
    assert bands == [["a", 1.0, 6.0], ["b", 1.5, 6.5]]
    note = browser.evaluate('document.getElementById("timeline-note").textContent')
    labelled = browser.evaluate('document.querySelectorAll("#timeline text.event-label").length')
    assert 0 < labelled < MAX_BREAKER_EVENTS  # a mark per event, labels where they fit
    assert note == (
        "6 later circuit breaker transitions are not drawn; events.jsonl has every one. "
        f"{MAX_BREAKER_EVENTS - labelled} marks are unlabelled where labels would overlap; hover a mark, "
        "or read the list below."
    )


# What a person reads off the page, measured in the browser: boxes are client rectangles.
LAYOUT = """(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const cells = Object.fromEntries(Array.from(document.querySelectorAll("#graph g.cell"),
    (g) => [g.dataset.cell, box(g.querySelector("rect"))]));
  const lastY = (path) => path.getPointAtLength(path.getTotalLength()).y;
  return {
    cells,
    nodes: Array.from(document.querySelectorAll("#graph circle.node"), (c) => [c.dataset.cell, box(c)]),
    groups: Array.from(new Set(Array.from(document.querySelectorAll("#graph circle.node"),
      (c) => [c.__data__.service, c.__data__.region, c.__data__.zone].join("|")))).sort(),
    labels: Array.from(document.querySelectorAll("#graph text.service-label"),
      (t) => [t.dataset.group, t.dataset.cell, box(t)]),
    timeAxes: Array.from(document.querySelectorAll("#charts svg.chart"),
      (svg) => Array.from(svg.querySelectorAll(".time-axis .tick text"), (t) => t.textContent)),
    rateLines: Array.from(document.querySelectorAll("#charts path.series[data-metric=rate]"),
      (p) => [p.dataset.service, p.dataset.version, lastY(p),
              p.ownerSVGElement.querySelector(".time-axis").transform.baseVal[0].matrix.f]),
    histogramAxes: Array.from(document.querySelectorAll(".hist svg"),
      (svg) => Array.from(svg.querySelectorAll(".axis-title"), (t) => t.textContent)),
    quantileLabels: Array.from(document.querySelectorAll(".hist svg"), (svg) =>
      [box(svg), Array.from(svg.querySelectorAll(".quantile-label"), box)]),
    edgeCards: document.querySelectorAll("#edge-histograms .hist").length,
    eventLabels: Array.from(document.querySelectorAll("#timeline text.event-label"),
      (t) => [t.textContent, box(t)]),
    eventRows: Array.from(document.querySelectorAll("#event-list div"),
      (d) => [d.textContent, d.scrollWidth, d.clientWidth]),
    traceIds: Array.from(document.querySelectorAll(".trace h3"), (h) => h.textContent.split("trace ").pop()),
    traceNote: document.getElementById("trace-note").textContent,
  };
})()"""


def inside(inner: list[float], outer: list[float]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlap(a: list[float], b: list[float]) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


@pytest.mark.parametrize("size", [DESKTOP, LAPTOP], ids=["1600x1000", "1280x800"])
def test_the_page_labels_services_time_and_latency_and_draws_no_drop_at_the_end(
    browser: Browser, planned: tuple[Path, Expected], size: tuple[int, int]
) -> None:
    """Issue 18's report points: a label per service and zone inside its lane, every node inside its
    lane, a time axis under every chart, no rate line falling to zero in the partial last second,
    histogram axes with units and quantile labels inside, labelled timeline marks, event rows not
    cut, and different traces."""
    out, _ = planned
    report = out / "report.html"
    page = load(browser, report, size)
    assert_clean(page, report)
    got = browser.evaluate(LAYOUT)
    cells = got["cells"]
    assert all(inside(node, cells[cell]) for cell, node in got["nodes"]), "a node outside its lane"
    assert sorted(group for group, _, _ in got["labels"]) == got["groups"]  # one per service and zone
    for group, cell, label in got["labels"]:
        _, region, zone = group.split("|")
        assert cell == ("*/*" if region == "*" else f"{region}/{zone}")
        assert inside(label, cells[cell]), group
    assert got["timeAxes"] and all(ticks and ticks[0] == "0 s" for ticks in got["timeAxes"])
    assert all(tick.endswith(" s") for ticks in got["timeAxes"] for tick in ticks)
    for service, version, last_y, baseline in got["rateLines"]:
        assert last_y < baseline - 5, f"{service} {version} drops to zero at the end"
    units = (["latency, ms (log scale)", "requests"], ["latency, ms (log scale)", "calls"])
    assert got["histogramAxes"] and all(titles in units for titles in got["histogramAxes"])
    for svg, labels in got["quantileLabels"]:
        assert all(inside(label, svg) for label in labels), "a p50/p90/p99 label clipped"
    edges = json.loads((out / "histograms.json").read_text())["edges"]
    assert got["edgeCards"] == min(12, len(edges)) > 0
    assert len(got["eventLabels"]) == event_lines(out)  # every mark labelled: few events, room for all
    boxes = [b for _, b in got["eventLabels"]]
    assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert all(scroll <= client for _, scroll, client in got["eventRows"]), "an event row is cut"
    assert any(HOSTILE in text for text, _, _ in got["eventRows"])
    assert len(got["traceIds"]) == 3 == len(set(got["traceIds"]))
