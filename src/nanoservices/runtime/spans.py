"""Span bookkeeping for one hop: a CLIENT span around each request sent, a SERVER span around each
request handled, the W3C traceparent carried in the Message. Kept apart from instance.py so the
untraced path pays only an `is None` test. Instances pass their host's clock (`at`, seconds): spans,
events and the per-second series are on one clock (in a Ray run the SDK's own, wall time)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace import Tracer as OtelTracer

from nanoservices.messages import Kind, Message
from nanoservices.messages import Status as Outcome

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
}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


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


def start_client(
    tracer: OtelTracer,
    parent: Span | None,
    msg: Message,
    peer_service: str,
    peer_ip: str,
    at: float | None = None,
) -> Span:
    attributes: dict[str, str | int] = {
        "peer.service": peer_service,
        "server.address": peer_ip,
        "server.port": 8080,
        "nanoservices.message.kind": msg.kind.name,
    }
    method = _HTTP_METHOD.get(msg.kind)
    if method:
        attributes["http.request.method"] = method
    else:
        attributes["rpc.system"] = "nanoservices"
        attributes["rpc.method"] = msg.kind.name
    context = trace.set_span_in_context(parent) if parent is not None else None
    return tracer.start_span(
        span_name(msg.kind, peer_service),
        context=context,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=nanos(at),
    )


def start_server(
    tracer: OtelTracer, msg: Message, service: str, caller_ip: str, at: float | None = None
) -> Span:
    attributes: dict[str, str | int] = {
        "client.address": caller_ip,
        "nanoservices.message.kind": msg.kind.name,
    }
    method = _HTTP_METHOD.get(msg.kind)
    if method:
        attributes["http.request.method"] = method
        attributes["http.route"] = f"/{service}"
    else:
        attributes["rpc.system"] = "nanoservices"
        attributes["rpc.method"] = msg.kind.name
    return tracer.start_span(
        span_name(msg.kind, service),
        context=remote_parent(msg.trace),
        kind=SpanKind.SERVER,
        attributes=attributes,
        start_time=nanos(at),
    )


def end(span: Span, outcome: Outcome, http: bool, at: float | None = None) -> None:
    if http:
        span.set_attribute("http.response.status_code", _HTTP_STATUS[outcome])
    if outcome is not Outcome.OK:
        reason = outcome.name.lower()
        span.set_status(Status(StatusCode.ERROR, reason))
        span.add_event("exception", {"exception.type": f"nanoservices.{reason}", "exception.message": reason})
        span.set_attribute("error.type", reason)
    span.end(end_time=nanos(at))
