"""Live progress: the figures a host reports, how the driver totals them (slow and departed hosts),
the plain lines the CLI prints when not on a terminal, and a real run's progress lines."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from rich.console import Console
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.cli.live import PlainProgress, RichProgress, plain_every, renderer
from nanoservices.messages import Status
from nanoservices.progress import LiveTotals, Progress
from nanoservices.runtime.live import from_final, span_counts
from nanoservices.runtime.stats import HostStats
from nanoservices.tracing import HostTracing, TracingSettings
from nanoservices.tracing.processor import CountingSpanProcessor, Lane
from test_tracing_processor import make_spans, spec


def progress(elapsed: float, issued: int, completed: int, **more: float) -> Progress:
    values: dict[str, float] = dict(
        at=elapsed + 2.5,
        duration=10.0,
        failed=0,
        rate=0.0,
        spans_exported=0,
        spans_dropped=0,
        hosts=3,
        answered=3,
    )
    values.update(more)
    return Progress(elapsed=elapsed, issued=issued, completed=completed, **values)  # type: ignore[arg-type]


def test_plain_lines_come_at_the_first_figures_and_then_every_few_seconds() -> None:
    lines: list[str] = []
    shown = PlainProgress(lines.append, every=5.0)
    shown.line("[   2.0s] traffic running for 10 s")
    shown.live(progress(1.0, 100, 98, rate=98.0))
    shown.live(progress(2.0, 200, 199))
    shown.line("[   7.5s] chaos-monkey web")
    shown.live(
        progress(6.0, 600, 590, failed=2, rate=97.75, spans_exported=1180, spans_dropped=4, answered=2)
    )
    shown.live(progress(11.2, 1000, 1000, rate=1234.5))
    assert lines == [
        "[   2.0s] traffic running for 10 s",
        "[   3.5s] traffic 1/10 s: 100 requests issued, 98 completed (98/s), 0 failed; "
        "spans 0 exported, 0 dropped",
        "[   7.5s] chaos-monkey web",
        "[   8.5s] traffic 6/10 s: 600 requests issued, 590 completed (98/s), 2 failed; "
        "spans 1,180 exported, 4 dropped (1 of 3 hosts slow to answer)",
        "[  13.7s] traffic 10/10 s: 1,000 requests issued, 1,000 completed (1,234/s), 0 failed; "
        "spans 0 exported, 0 dropped",
    ]


def answer(
    elapsed: float, live: list[int], answered: dict[int, dict[str, int]], ended: dict[str, int]
) -> dict:
    return {
        "at": elapsed + 1,
        "elapsed": elapsed,
        "duration": 10.0,
        "live": live,
        "answered": answered,
        "ended": ended,
    }


def counts(issued: int, completed: int, failed: int = 0) -> dict[str, int]:
    return {"issued": issued, "completed": completed, "failed": failed}


def test_a_slow_host_counts_with_its_last_figures_and_a_departed_one_with_its_final_counts() -> None:
    totals = LiveTotals()
    first = totals.update(answer(1.0, [0, 1], {0: counts(10, 9), 1: counts(20, 20)}, {}))
    assert (first.issued, first.completed, first.rate, first.answered) == (30, 29, 29 / 1.0, 2)
    slow = totals.update(answer(2.0, [0, 1], {0: counts(15, 15)}, {}))  # host 1 did not answer in time
    assert (slow.issued, slow.completed, slow.answered, slow.hosts) == (35, 35, 1, 2)
    assert slow.rate == 35 - 29
    # Host 1 left the run (chaos, a deploy): its final counts are the supervisor's ended totals.
    gone = totals.update(answer(4.0, [0], {0: counts(18, 17, 1)}, counts(22, 21, 1)))
    assert (gone.issued, gone.completed, gone.failed, gone.hosts) == (40, 38, 2, 1)
    assert gone.rate == (38 - 35) / 2


def test_final_counts_give_the_same_figures_as_a_running_host() -> None:
    stats = HostStats(requests_issued=7, requests_completed=5)
    stats.failed(Status.TIMEOUT)
    stats.failed(Status.TIMEOUT)
    final = stats.counts(0)
    final["spans"] = {
        "created": 9,
        "exporters": {
            "a": {"exported": 6, "dropped": {"queue_full": 3}},
            "b": {"exported": 9, "dropped": {}},
        },
    }
    assert from_final(final) == {
        "issued": 7,
        "completed": 5,
        "failed": 2,
        "spans_exported": 15,
        "spans_dropped": 3,
    }


def test_spans_so_far_match_the_shutdown_counts() -> None:
    tracing = HostTracing(TracingSettings(flows=frozenset({"zipkin"})), "host-0")
    created = make_spans([tracing.tracer_for(spec(1))], 10)
    final = tracing.shutdown(5)
    assert final["exporters"]["flows"]["exported"] == created
    assert span_counts(tracing.so_far()) == {"spans_exported": created, "spans_dropped": 0}


def test_spans_dropped_so_far_count_a_full_queue_before_shutdown() -> None:
    processor = CountingSpanProcessor([Lane("full", ConsoleSpanExporter(), capacity=0, batch=10, delay_s=60)])
    provider = TracerProvider(shutdown_on_exit=False, active_span_processor=processor)  # type: ignore[arg-type]
    created = make_spans([provider.get_tracer("test")], 4)
    assert span_counts(processor.so_far()) == {"spans_exported": 0, "spans_dropped": created}
    processor.shutdown_within(1)


def test_on_a_terminal_the_bar_shows_the_run_time_and_the_figures_under_it() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with RichProgress(console) as shown:
        shown.line("[   2.0s] traffic running for 10 s")
        shown.live(progress(5.0, 600, 590, failed=2, rate=97.75, spans_exported=1180, spans_dropped=4))
    text = screen.getvalue()
    assert text.startswith("[   2.0s] traffic running for 10 s\n")
    bar, under, *_ = text.rsplit("traffic ", 1)[1].split("\n")  # the last frame drawn
    assert bar.startswith("━") and " 50% " in bar, bar
    assert under == "600 requests issued, 590 completed (98/s), 2 failed; spans 1,180 exported, 4 dropped"


def test_short_runs_get_a_few_plain_lines_long_ones_one_every_five_seconds() -> None:
    assert [plain_every(d) for d in (1, 3, 10, 25, 600)] == [1.0, 1.0, 2.0, 5.0, 5.0]


FIGURES = re.compile(
    r"^\[ *[0-9.]+s\] traffic (\d+)/3 s: ([\d,]+) requests issued, ([\d,]+) completed \([\d,]+/s\), "
    r"([\d,]+) failed; spans ([\d,]+) exported, ([\d,]+) dropped$"
)


@pytest.mark.ray
def test_a_run_not_on_a_terminal_prints_progress_lines_that_only_grow(
    ray_local: object, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["run", "lamp", "-K", "100", "-d", "3", "--no-chaos", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    rows = [
        [int(n.replace(",", "")) for n in match.groups()]
        for match in map(FIGURES.match, result.stderr.splitlines())
        if match
    ]
    traffic = [line for line in result.stderr.splitlines() if "] traffic " in line and " s: " in line]
    assert len(rows) == len(traffic) >= 1, result.stderr  # every progress line has the exact form
    for before, after in itertools.pairwise(rows):
        assert all(b <= a for b, a in zip(before, after, strict=True)), (before, after)
    summary = json.loads((tmp_path / "summary.json").read_text())
    issued = summary["requests_issued"]
    assert 0 < rows[-1][1] <= issued, (rows, issued)
    assert rows[-1][2] <= summary["requests_completed"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stdout_tty", "stderr_tty", "kind"),
    [
        (True, True, RichProgress),
        (False, True, PlainProgress),
        (True, False, PlainProgress),
        (False, False, PlainProgress),
    ],
)
def test_the_bar_only_when_both_outputs_are_terminals(
    monkeypatch: pytest.MonkeyPatch, stdout_tty: bool, stderr_tty: bool, kind: type
) -> None:
    monkeypatch.setattr("sys.stdout", _Terminal() if stdout_tty else io.StringIO())
    monkeypatch.setattr("sys.stderr", _Terminal() if stderr_tty else io.StringIO())
    assert type(renderer(print)) is kind
