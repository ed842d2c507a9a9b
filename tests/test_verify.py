"""`nanoservices verify` against stand-ins for Zipkin, Jaeger and Tempo that follow each project's published
trace-by-id API (tests/support/trace_backends.py), fed from spans an in-process netflixoss run produced and
sent over OTLP: every trace intact through a clean pipe; through a relay that drops 1 % of spans and
rewrites an attribute on a few, exactly those spans, per service; a down or garbage backend in one line."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.problems import InputError
from nanoservices.tracing import OtlpEndpoint
from nanoservices.verify import parse_sample, parse_target, verify_after_run
from nanoservices.verify import runner as verify_runner
from nanoservices.verify.runner import sampled
from support.lossy_relay import REWRITTEN_VALUE, LossyRelay
from support.otlp_receiver import OtlpReceiver, SpanRecord
from support.trace_backends import KINDS, FakeBackend
from support.traced_run import export, host_traced_run, traced_run, write_expected

TICKS = 300  # requests from netflixoss's one denominator: 300 traces, ~4,800 spans
cli = CliRunner()


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return traced_run(TICKS)


@pytest.fixture
def run_dir(tmp_path: Path, spans: list[ReadableSpan]) -> Path:
    write_expected(spans, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def clean(spans: list[ReadableSpan]) -> dict[str, list[SpanRecord]]:
    """What a backend holds after every span went over OTLP untouched (read-only: tests copy to change)."""
    return stored(spans)


def stored(spans: Sequence[ReadableSpan], relay: LossyRelay | None = None) -> dict[str, list[SpanRecord]]:
    """What a backend holds after the spans went over OTLP (through the relay, if any), by trace."""
    with OtlpReceiver(grpc_enabled=False) as backend:
        if relay is None:
            export(spans, backend.otlp_http_endpoint)
        else:
            relay.upstream = backend.otlp_http_endpoint
            with relay:
                export(spans, relay.endpoint)
        return backend.traces()


def lookup(traces: dict[str, list[SpanRecord]]) -> Callable[[str], list[SpanRecord] | None]:
    return traces.get


def verify(run_dir: Path, kind: str, url: str, *flags: str) -> tuple[Any, dict[str, Any]]:
    result = cli.invoke(app, ["verify", str(run_dir), "--backend", kind, "--url", url, *flags])
    report = run_dir / "verify.json"
    return result, json.loads(report.read_text()) if report.exists() else {}


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_trace_is_found_intact_through_a_clean_pipe(
    run_dir: Path, spans: list[ReadableSpan], clean: dict[str, list[SpanRecord]], kind: str
) -> None:
    traces = clean
    with FakeBackend(kind, lookup(traces)) as backend:
        result, report = verify(run_dir, kind, backend.url, "--wait", "5s")
        asked = backend.requests
    assert result.exit_code == 0, result.output + result.stderr
    assert report["intact"] is True
    assert report["traces"] == {"expected": TICKS, "intact": TICKS, "not_found": 0, "with_problems": 0}
    assert report["spans"] == {
        "expected": len(spans), "intact": len(spans),
        "missing": 0, "altered": 0, "duplicate": 0, "unexpected": 0,
    }  # fmt: skip
    assert {name: t["intact"] for name, t in report["services"].items()} == Counter(map(service_of, spans))
    assert asked == TICKS  # each trace whole at the first ask: asked once
    assert report["time_to_visible"]["traces"] == TICKS
    lines = result.output.splitlines()
    assert lines[0].startswith(f"verify: {kind} at {backend.url}: {TICKS} of {TICKS} traces intact")
    assert any(line.startswith("  time to visible: p50 ") for line in lines)


@pytest.mark.parametrize("kind", ["zipkin", "tempo"])
def test_a_lossy_relay_is_reported_span_by_span_per_service(
    run_dir: Path, spans: list[ReadableSpan], kind: str
) -> None:
    relay = LossyRelay("", drop_every=100, rewrite_every=250, attribute="peer.service")
    traces = stored(spans, relay)
    assert len(relay.dropped) == len(spans) // 100 and relay.rewritten  # exactly 1 %, and a few rewritten
    with FakeBackend(kind, lookup(traces)) as backend:
        result, report = verify(run_dir, kind, backend.url, "--wait", "0")
    assert result.exit_code == 1, result.output + result.stderr
    assert report["intact"] is False
    by_problem: dict[str, dict[tuple[str, str], str]] = {"missing": {}, "altered": {}}
    for p in report["problems"]:
        by_problem[p["problem"]][(p["trace_id"], p["span_id"])] = p["service"]
    assert by_problem["missing"] == relay.dropped
    assert by_problem["altered"] == relay.rewritten
    assert all(REWRITTEN_VALUE in p["detail"] for p in report["problems"] if p["problem"] == "altered")
    for name, tally in report["services"].items():
        assert tally["missing"] == Counter(relay.dropped.values())[name], name
        assert tally["altered"] == Counter(relay.rewritten.values())[name], name
        assert tally["duplicate"] == tally["unexpected"] == 0
        assert tally["intact"] == tally["expected"] - tally["missing"] - tally["altered"]
    damaged = {t for t, _ in relay.dropped} | {t for t, _ in relay.rewritten}
    assert report["traces"]["with_problems"] == len(damaged)
    assert report["traces"]["intact"] == TICKS - len(damaged)
    assert "altered: trace " in result.output


def test_traces_never_stored_are_named_first_and_their_spans_missing(
    run_dir: Path, spans: list[ReadableSpan], clean: dict[str, list[SpanRecord]]
) -> None:
    traces = clean
    gone = sorted(traces)[:7]
    kept = {t: s for t, s in traces.items() if t not in gone}
    with FakeBackend("jaeger", lookup(kept)) as backend:
        result, report = verify(run_dir, "jaeger", backend.url, "--wait", "0")
    assert result.exit_code == 1
    assert sorted(report["not_found"]) == gone
    assert report["traces"]["not_found"] == 7
    assert report["spans"]["missing"] == sum(len(traces[t]) for t in gone)
    [line] = [line for line in result.output.splitlines() if line.startswith("  not found: ")]
    assert line.endswith(" and 2 more") and sum(t in line for t in gone) == 5


def test_duplicates_and_unexpected_spans_are_counted(
    run_dir: Path, spans: list[ReadableSpan], clean: dict[str, list[SpanRecord]]
) -> None:
    traces = clean
    first, second = sorted(traces)[:2]
    doubled = {**traces, first: [*traces[first], traces[first][0]]}
    stranger = dataclasses.replace(traces[first][1], span_id="00000000000000ff")
    doubled[second] = [*traces[second], stranger]
    with FakeBackend("jaeger-v2", lookup(doubled)) as backend:
        result, report = verify(run_dir, "jaeger-v2", backend.url, "--wait", "0")
    assert result.exit_code == 1
    assert report["spans"]["duplicate"] == 1 and report["spans"]["unexpected"] == 1
    assert report["traces"]["with_problems"] == 2
    assert report["spans"]["intact"] == len(spans) - 1  # the duplicated one; a stranger spoils none


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_down_backend_is_one_line_and_exit_1(run_dir: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result, report = verify(run_dir, "zipkin", url, "--wait", "0.3s")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"nanoservices verify: zipkin at {url} is not answering (connection refused)"
    ]
    assert report == {}


@pytest.mark.parametrize("kind", KINDS)
def test_a_backend_answering_garbage_is_one_line_and_exit_1(run_dir: Path, kind: str) -> None:
    with FakeBackend(kind, lambda _: None, garbage=True) as backend:
        result, _ = verify(run_dir, kind, backend.url, "--wait", "0")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"nanoservices verify: {kind} at {backend.url} answered ") and "not JSON" in line


def test_a_sample_is_the_same_traces_for_the_same_seed(
    run_dir: Path, spans: list[ReadableSpan], clean: dict[str, list[SpanRecord]]
) -> None:
    traces = clean
    asked: list[str] = []

    def recording(trace_id: str) -> list[SpanRecord] | None:
        asked.append(trace_id)
        return traces.get(trace_id)

    with FakeBackend("zipkin", recording) as backend:
        result, report = verify(run_dir, "zipkin", backend.url, "--sample", "10%", "--seed", "3")
    assert result.exit_code == 0, result.output
    chosen = {t for t in traces if sampled(t, 3, 0.10)}
    assert set(asked) == chosen and len(asked) == len(chosen)
    assert report["traces"]["expected"] == len(chosen) and 10 <= len(chosen) <= 60
    assert "(a 10% sample, seed 3)" in result.output


def test_many_buckets_judge_as_one(
    run_dir: Path,
    spans: list[ReadableSpan],
    clean: dict[str, list[SpanRecord]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces = clean
    monkeypatch.setattr(verify_runner, "BUCKET_BYTES", 20_000)  # ~30 buckets for this small run
    buckets: list[int] = []
    partition = verify_runner.partition

    def counting(*args: Any) -> list[Path]:
        out = partition(*args)
        buckets.append(len(out))
        return out

    monkeypatch.setattr(verify_runner, "partition", counting)
    with FakeBackend("tempo", lookup(traces)) as backend:
        result, report = verify(run_dir, "tempo", backend.url)
    assert result.exit_code == 0, result.output
    assert buckets[0] > 10
    assert report["traces"]["intact"] == TICKS and report["spans"]["intact"] == len(spans)


def test_a_record_cut_short_is_counted_and_a_corrupt_one_refused(run_dir: Path) -> None:
    record = sorted((run_dir / "expected").glob("*.jsonl"))[0]
    text = record.read_text()
    record.write_text(text + text.splitlines()[0][:40])  # a host killed mid-write
    with FakeBackend("zipkin", lambda _: None) as backend:
        result, report = verify(run_dir, "zipkin", backend.url, "--wait", "0")
    assert result.exit_code == 1  # nothing stored: every trace not found
    assert [t["line"] for t in report["torn_lines"]] == [len(text.splitlines()) + 1]
    record.write_text("garbage\n" + text)
    result, _ = verify(run_dir, "zipkin", "http://127.0.0.1:1", "--wait", "0")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{record}: line 1: not an expected-span line; rerun the run"]


def test_a_run_without_a_record_and_bad_flags_are_refused_in_one_line(tmp_path: Path) -> None:
    result, _ = verify(tmp_path, "zipkin", "http://127.0.0.1:1")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'expected'}: no expected record here")
    result, _ = verify(tmp_path, "honeycomb", "http://127.0.0.1:1")
    assert result.exit_code == 2 and "unknown backend 'honeycomb'" in result.stderr
    result, _ = verify(tmp_path, "zipkin", "http://127.0.0.1:1", "--sample", "200%")
    assert result.exit_code == 2 and "--sample: '200%' is not a share of traces" in result.stderr


def test_run_verify_puts_the_verdict_in_the_summary(
    run_dir: Path, spans: list[ReadableSpan], clean: dict[str, list[SpanRecord]]
) -> None:
    (run_dir / "summary.json").write_text(json.dumps({"arch": "netflixoss"}))
    traces = clean
    with FakeBackend("zipkin", lookup(traces)) as backend:
        verdict, lines = verify_after_run(run_dir, f"zipkin={backend.url}", wait_s=5)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verify"] == verdict and verdict["intact"] is True
    assert verdict["traces"]["intact"] == TICKS and (run_dir / "verify.json").is_file()
    assert lines[0].startswith("verify: zipkin at ")
    down, lines = verify_after_run(run_dir, f"zipkin=http://127.0.0.1:{closed_port()}", wait_s=0)
    assert down["intact"] is False and "not answering" in down["error"] and len(lines) == 1


def test_the_hosts_record_sink_and_their_otlp_export_agree(tmp_path: Path) -> None:
    """The record as a traced run's hosts write it (HostTracing's record sink, the default span path)."""
    with OtlpReceiver(http_enabled=False) as receiver:
        endpoint = OtlpEndpoint(url=receiver.otlp_grpc_endpoint, protocol="grpc")
        created = host_traced_run(50, tmp_path, endpoint)
        assert receiver.wait_for(created, timeout=10) and receiver.count == created
        traces = receiver.traces()
    assert len(traces) == 50
    with FakeBackend("jaeger", lookup(traces)) as backend:
        result, report = verify(tmp_path, "jaeger", backend.url, "--wait", "0")
    assert result.exit_code == 0, result.output + result.stderr
    assert report["spans"]["expected"] == report["spans"]["intact"] == created


def test_targets_and_samples_are_read_or_refused_by_name() -> None:
    assert parse_target("phoenix=http://127.0.0.1:6006") == ("phoenix", "http://127.0.0.1:6006")
    assert parse_sample("10%") == 0.1 and parse_sample("0.25") == 0.25 and parse_sample("1") == 1.0
    for bad in ("phoenix", "honeycomb=http://x", "zipkin=127.0.0.1:9411"):
        with pytest.raises(InputError, match=r"--verify: .* is not KIND=URL"):
            parse_target(bad)
    for bad in ("0%", "abc", "1.5"):
        with pytest.raises(InputError, match=r"--sample: .* is not a share of traces"):
            parse_sample(bad)
