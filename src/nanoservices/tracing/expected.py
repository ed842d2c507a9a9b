"""What each trace should hold, written as the run goes, so `nanoservices verify` can read a backend back.

Each host process appends its spans, one JSON array per line, to `<out>/expected/<host>.jsonl`:

    [trace_id, span_id, parent_id, service, name, kind, error, start_ns, end_ns, {selected attributes}]

ids are lower-case hex ("" for a root's parent), kind is the OTel kind's name (SERVER, CLIENT, ...), error
is 1 when the span's status is ERROR, and only the attributes in SELECTED_ATTRIBUTES are kept (the ones a
pipeline's processors are likely to drop or rewrite). Batches arrive off the hot path (an exporter lane's
thread, or the fast path's record sink) and are appended and flushed per batch: memory stays one batch.

Trace ids are whatever the span path made (the SDK's random ids, or ids derived from the run's seed and a
sequence): nothing here derives or assumes them, the record stores each one, so a verify needs no seed to
know what to ask for. A file cut short by a killed host loses at most its last line, which verify skips
and counts rather than refusing the whole run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from nanoservices.problems import InputError, Problem

EXPECTED_DIR = "expected"
SUFFIX = ".jsonl"
SELECTED_ATTRIBUTES = (
    "peer.service",
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "rpc.method",
    "error.type",
    "nanoservices.message.kind",
    "nanoservices.retry",
    "nanoservices.event",
)
_SELECTED = frozenset(SELECTED_ATTRIBUTES)
_FIELDS = 10
_json = json.JSONEncoder(separators=(",", ":")).encode  # tuples come out as JSON lists


class ExpectedSpan(NamedTuple):
    trace_id: str
    span_id: str
    parent_id: str
    service: str
    name: str
    kind: str
    error: bool
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]


def encode(span: ExpectedSpan) -> str:
    """One line of the record (with its newline). Ids and kind are hex and enum names: no escaping."""
    return (
        f'["{span.trace_id}","{span.span_id}","{span.parent_id}",{_json(span.service)},{_json(span.name)},'
        f'"{span.kind}",{1 if span.error else 0},{span.start_ns},{span.end_ns},{_json(span.attributes)}]\n'
    )


def decode(line: str) -> ExpectedSpan:
    """The span on one line; ValueError when the line is not one of ours."""
    fields = json.loads(line)
    if not isinstance(fields, list) or len(fields) != _FIELDS:
        raise ValueError(f"expected a list of {_FIELDS} fields")
    trace_id, span_id, parent_id, service, name, kind, error, start, end, attributes = fields
    if not (isinstance(trace_id, str) and len(trace_id) == 32 and isinstance(span_id, str)):
        raise ValueError("trace_id must be 32 hex characters")
    if not isinstance(attributes, dict):
        raise ValueError("the last field must be an object of attributes")
    return ExpectedSpan(
        trace_id, span_id, parent_id or "", str(service), str(name), str(kind), bool(error),
        int(start), int(end), attributes,
    )  # fmt: skip


class ExpectedWriter:
    """Appends batches to one host's file, opening it per batch (no handle outlives a batch, so nothing
    needs closing when a host stops); thread-safe, so several lanes or sinks may share it."""

    def __init__(self, out_dir: str | Path, host_label: str) -> None:
        directory = Path(out_dir) / EXPECTED_DIR
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{host_label}{SUFFIX}"
        self._lock = threading.Lock()
        self.written = 0

    def write(self, spans: Iterable[ExpectedSpan]) -> int:
        """Append one batch; returns how many spans it held."""
        text = "".join(encode(s) for s in spans)
        if not text:
            return 0
        count = text.count("\n")
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(text)
            self.written += count
        return count


def selected(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes worth checking (a span has a handful: one pass over them)."""
    return {k: v for k, v in attributes.items() if k in _SELECTED}


class ExpectedSink:
    """The fast path's record sink (`HostTracing.add_record_sink("expected", ExpectedSink(out, host))`):
    batches of tracing.records.SpanRecord (read by field name) appended to the host's file."""

    def __init__(self, out_dir: str | Path, host_label: str) -> None:
        self.writer = ExpectedWriter(out_dir, host_label)

    def __call__(self, records: Sequence[Any]) -> None:
        self.writer.write(
            ExpectedSpan(
                r.trace_id,
                r.span_id,
                r.parent_id,
                r.service,
                r.name,
                r.kind,
                bool(r.error),
                r.start_ns,
                r.end_ns,
                selected(r.attributes),
            )
            for r in records
        )


def _service(span: ReadableSpan) -> str:
    resource = span.resource.attributes if span.resource is not None else {}
    return str(resource.get("service.name", ""))


def record_of(span: ReadableSpan) -> ExpectedSpan:
    """The expected record of one SDK span (the adapter until the fast path hands records over)."""
    context = span.get_span_context()
    assert context is not None  # every span the SDK ends has one
    return ExpectedSpan(
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
        f"{span.parent.span_id:016x}" if span.parent is not None else "",
        _service(span),
        span.name,
        span.kind.name,
        span.status.status_code is StatusCode.ERROR,
        span.start_time or 0,
        span.end_time or 0,
        selected(span.attributes or {}),
    )


class ExpectedSpanExporter(SpanExporter):
    """A span exporter (one more lane of the host's processor) that writes the expected record."""

    def __init__(self, out_dir: str | Path, host_label: str) -> None:
        self.writer = ExpectedWriter(out_dir, host_label)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self.writer.write(record_of(s) for s in spans)
        except OSError:
            return SpanExportResult.FAILURE  # a full disk: the lane counts the batch as dropped
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every batch is flushed as it is written


def expected_files(run_dir: Path) -> list[Path]:
    """The run's record files; InputError naming the fix when there are none."""
    directory = Path(run_dir) / EXPECTED_DIR
    files = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    if not files:
        raise InputError(
            [
                Problem(
                    str(directory),
                    "",
                    "no expected record here: give the --out of a run that exported spans "
                    "(--otlp-endpoint) with this version of nanoservices",
                )
            ]
        )
    return files


class Torn(NamedTuple):
    """A line that could not be read (a host killed mid-write leaves at most its last line so)."""

    path: Path
    line: int
    why: str
