"""Span bookkeeping for one hop: a CLIENT span around each request sent, a SERVER span around each
request handled, the W3C traceparent carried in the Message. Kept apart from instance.py so the
untraced path pays only an `is None` test. Instances pass their host's clock (`at`, seconds): spans,
events and the per-second series are on one clock (in a Ray run the SDK's own, wall time).

An instance talks to its span hooks (`hooks_for`): `client`, `server`, `end`, `close`. Two kinds exist,
chosen by `--span-path`: `SdkSpans` here (OpenTelemetry SDK span objects, the `sdk` path) and
`nanoservices.tracing.records.FastSpans` (compact records, the default `fast` path). The attribute rules
below (`client_attributes`, `server_attributes`, `outcome_attributes`) are shared, so both paths make the
same spans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace import Tracer as OtelTracer

from nanoservices.messages import Kind, Message
from nanoservices.messages import Status as Outcome
from nanoservices.plan import InstanceSpec

_HTTP_METHOD = {Kind.GET_REQUEST: "GET", Kind.PUT: "PUT"}
_HTTP_STATUS = {
    Outcome.OK: 200,
    Outcome.NO_ROUTE: 503,
    Outcome.DEAD_INSTANCE: 503,
    Outcome.STOPPED: 503,
    Outcome.TIMEOUT: 504,
    Outcome.SHUTDOWN: 503,
    Outcome.ERROR: 500,
    Outcome.SHORT_CIRCUITED: 503,  # Hystrix's fallback: the dependency is unavailable
    Outcome.REJECTED: 503,  # the server's workers and queue were full
}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
SERVER_PORT = 8080
RETRY_ATTRIBUTE = "nanoservices.retry"
QUEUE_WAIT_ATTRIBUTE = "nanoservices.queue.wait_ms"  # SERVER spans of a service with capacity
QUEUE_LENGTH_ATTRIBUTE = "nanoservices.queue.length"  # requests waiting ahead of it on arrival


def queue_attributes(wait: float, length: int) -> dict[str, float | int]:
    """A queued request's wait (seconds, shown in ms) and the queue it found on arrival."""
    return {QUEUE_WAIT_ATTRIBUTE: round(wait * 1000, 3), QUEUE_LENGTH_ATTRIBUTE: length}


OpenSpan = Any  # an SDK Span (sdk path) or a fast record (fast path): only its hooks look inside


class SpanHooks(Protocol):
    """What an instance calls around each hop; `client` also sets the message's traceparent."""

    def client(self, parent: OpenSpan | None, msg: Message, now: float, retry: bool = False) -> OpenSpan: ...
    def server(self, msg: Message, now: float) -> OpenSpan: ...
    def end(self, span: OpenSpan, outcome: Outcome, at: float) -> None: ...
    def close(self, span: OpenSpan, at: float) -> None: ...
    def queued(self, span: OpenSpan, wait: float, length: int) -> None: ...


def traceparent(span: Span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def remote_parent(header: str) -> trace.Context | None:  # type: ignore[name-defined]
    if len(header) != 55:
        return None
    parent = SpanContext(int(header[3:35], 16), int(header[36:52], 16), is_remote=True, trace_flags=_SAMPLED)
    return trace.set_span_in_context(NonRecordingSpan(parent))


def span_name(kind: Kind, service: str) -> str:
    method = _HTTP_METHOD.get(kind)
    return f"{method} /{service}" if method else kind.name.title().replace("_", "")


def nanos(at: float | None) -> int | None:
    """The host clock's seconds as a span timestamp (None: the SDK's own clock)."""
    return None if at is None else int(at * 1e9)


def peer_service(target: str) -> str:
    """The service field of an instance name (its second-to-last dotted field)."""
    return target.rsplit(".", 2)[-2] if target else ""


def client_attributes(kind: Kind, peer: str, peer_ip: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "peer.service": peer,
        "server.address": peer_ip,
        "server.port": SERVER_PORT,
        "nanoservices.message.kind": kind.name,
    }
    method = _HTTP_METHOD.get(kind)
    if method:
        attributes["http.request.method"] = method
    else:
        attributes["rpc.system"] = "nanoservices"
        attributes["rpc.method"] = kind.name
    return attributes


def server_attributes(kind: Kind, service: str, caller_ip: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {"client.address": caller_ip, "nanoservices.message.kind": kind.name}
    method = _HTTP_METHOD.get(kind)
    if method:
        attributes["http.request.method"] = method
        attributes["http.route"] = f"/{service}"
    else:
        attributes["rpc.system"] = "nanoservices"
        attributes["rpc.method"] = kind.name
    return attributes


def outcome_attributes(outcome: Outcome) -> tuple[dict[str, str | int], str | None]:
    """The attributes a span gets when it ends with `outcome`, and its error reason (None when OK)."""
    attributes: dict[str, str | int] = {"http.response.status_code": _HTTP_STATUS[outcome]}
    if outcome is Outcome.OK:
        return attributes, None
    reason = outcome.name.lower()
    attributes["error.type"] = reason
    return attributes, reason


def error_event(reason: str) -> dict[str, str]:
    return {"exception.type": f"nanoservices.{reason}", "exception.message": reason}


def start_client(
    tracer: OtelTracer,
    parent: Span | None,
    msg: Message,
    peer: str,
    peer_ip: str,
    at: float | None = None,
) -> Span:
    context = trace.set_span_in_context(parent) if parent is not None else None
    return tracer.start_span(
        span_name(msg.kind, peer),
        context=context,
        kind=SpanKind.CLIENT,
        attributes=client_attributes(msg.kind, peer, peer_ip),
        start_time=nanos(at),
    )


def start_server(
    tracer: OtelTracer, msg: Message, service: str, caller_ip: str, at: float | None = None
) -> Span:
    return tracer.start_span(
        span_name(msg.kind, service),
        context=remote_parent(msg.trace),
        kind=SpanKind.SERVER,
        attributes=server_attributes(msg.kind, service, caller_ip),
        start_time=nanos(at),
    )


def end(span: Span, outcome: Outcome, http: bool, at: float | None = None) -> None:
    if http:
        span.set_attribute("http.response.status_code", _HTTP_STATUS[outcome])
    if outcome is not Outcome.OK:
        reason = outcome.name.lower()
        span.set_status(Status(StatusCode.ERROR, reason))
        span.add_event("exception", error_event(reason))
        span.set_attribute("error.type", reason)
    span.end(end_time=nanos(at))


class SdkSpans:
    """The `sdk` span path: one OpenTelemetry SDK span object per span, from the instance's tracer."""

    __slots__ = ("_ip_of", "_service", "_tracer")

    def __init__(self, tracer: OtelTracer, service: str, ip_of: Callable[[str], str]) -> None:
        self._tracer = tracer
        self._service = service
        self._ip_of = ip_of

    def client(self, parent: Span | None, msg: Message, now: float, retry: bool = False) -> Span:
        target = msg.target
        span = start_client(self._tracer, parent, msg, peer_service(target), self._ip_of(target), now)
        if retry:
            span.set_attribute(RETRY_ATTRIBUTE, True)
        msg.trace = traceparent(span)
        return span

    def server(self, msg: Message, now: float) -> Span:
        return start_server(self._tracer, msg, self._service, self._ip_of(msg.sender), now)

    def end(self, span: Span, outcome: Outcome, at: float) -> None:
        end(span, outcome, True, at)

    def close(self, span: Span, at: float) -> None:
        span.end(end_time=nanos(at))

    def queued(self, span: Span, wait: float, length: int) -> None:
        span.set_attributes(queue_attributes(wait, length))


def hooks_for(tracing: Any, spec: InstanceSpec, seed: int, ip_of: Callable[[str], str]) -> SpanHooks:
    """The instance's span hooks from its host's tracing: its own `spans_for` when it has one (the
    real HostTracing, either path), else SDK spans from its `tracer_for` (a test's in-memory tracing)."""
    spans_for = getattr(tracing, "spans_for", None)
    if spans_for is not None:
        return spans_for(spec, seed, ip_of)  # type: ignore[no-any-return]
    return SdkSpans(tracing.tracer_for(spec), spec.service, ip_of)
