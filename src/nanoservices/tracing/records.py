"""The fast span path: a span is a compact record, not an SDK span object.

Per hop an instance (through `FastSpans`, its span hooks) makes one list per span and appends it, when the
span ends, to its host's intake (a deque the export side drains on its own threads). A record is

    [trace_id, span_id, parent_id, start, operation, retry, end, outcome]

- trace_id, span_id, parent_id: lower-case hex (32, 16, 16 characters; parent_id "" for a root);
- start, end: the host clock in seconds (float; nanoseconds are `int(seconds * 1e9)`, as the SDK path);
- operation: an `Operation`, the span's constant part (instance and its resource, name, kind, the start
  attributes), made once per (caller, callee, message kind) and pre-encoded for OTLP;
- retry: True on a retried try's CLIENT span (attribute `nanoservices.retry`); on a SERVER span of a
  service with capacity, (wait seconds, queue length) once it was queued (`queued`), else False;
- outcome: a `messages.Status` the span ended with (adds `http.response.status_code`, and for failures the
  error status, an `exception` event and `error.type`), or None for one-way messages (no status).

Everything else (OTLP bytes, Zipkin dicts, console lines, `SpanRecord` views for record sinks) is made from
records off the event loop. `SpanRecord` is the documented, flattened view a record sink receives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from nanoservices.messages import Kind, Message
from nanoservices.messages import Status as Outcome
from nanoservices.plan import InstanceSpec
from nanoservices.runtime.spans import (
    RETRY_ATTRIBUTE,
    client_attributes,
    error_event,
    outcome_attributes,
    peer_service,
    queue_attributes,
    server_attributes,
    span_name,
)
from nanoservices.tracing.ids import IdSource
from nanoservices.tracing.otlp_encode import _attributes, _ld

TRACE, SPAN, PARENT, START, OPERATION, RETRY, END, OUTCOME = range(8)  # a record's fields
_KINDS = len(Kind)


class InstanceBlock:
    """An instance's resource, and its ResourceSpans and ScopeSpans headers, encoded once."""

    __slots__ = ("instance", "ip", "resource", "resource_bytes", "scope", "scope_bytes", "service")

    def __init__(self, spec: InstanceSpec, resource: Mapping[str, Any], scope: str) -> None:
        self.instance = spec.name
        self.service = spec.service
        self.ip = spec.ip
        self.resource = resource
        self.scope = scope
        self.resource_bytes = _ld(b"\x0a", _attributes(b"\x0a", resource))  # ResourceSpans field 1
        self.scope_bytes = _ld(b"\x0a", _ld(b"\x0a", scope.encode()))  # ScopeSpans field 1: the scope's name


class Operation:
    """A span's constant part: name, kind and start attributes, with their OTLP encoding."""

    __slots__ = ("attributes", "attributes_bytes", "block", "head", "kind", "name", "remote_parent")

    def __init__(self, block: InstanceBlock, name: str, kind: SpanKind, attributes: dict[str, Any]) -> None:
        self.block = block
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.remote_parent = kind is SpanKind.SERVER  # its parent is the caller's span, from the header
        self.head = _ld(b"\x2a", name.encode()) + b"\x30" + bytes((kind.value + 1,))  # proto kinds: SDK's + 1
        self.attributes_bytes = _attributes(b"\x4a", attributes)


class FastSpans:
    """One instance's span hooks on the fast path (runtime/spans.py's SpanHooks): records, no SDK."""

    __slots__ = ("_append", "_block", "_clients", "_ids", "_ip_of", "_servers", "_traces")

    def __init__(
        self,
        block: InstanceBlock,
        ids: IdSource,
        append: Callable[[list[Any]], None],
        ip_of: Callable[[str], str],
    ) -> None:
        self._block = block
        self._ids = ids
        self._traces = ids.traces_of(block.instance)
        self._append = append
        self._ip_of = ip_of
        self._clients: dict[str, list[Operation | None]] = {}  # by callee, then message kind
        self._servers: dict[str, list[Operation | None]] = {}  # by caller, then message kind

    def client(self, parent: list[Any] | None, msg: Message, now: float, retry: bool = False) -> list[Any]:
        by_kind = self._clients.get(msg.target)
        op = by_kind[msg.kind] if by_kind is not None else None
        if op is None:
            op = self._operation(self._clients, msg.target, msg.kind, SpanKind.CLIENT)
        span_id = self._ids.span_id()
        if parent is None:
            trace = self._traces.next()
            parent_id = ""
        else:
            trace = parent[0]
            parent_id = parent[1]
        msg.trace = f"00-{trace}-{span_id}-01"
        return [trace, span_id, parent_id, now, op, retry, 0.0, None]

    def server(self, msg: Message, now: float) -> list[Any]:
        by_kind = self._servers.get(msg.sender)
        op = by_kind[msg.kind] if by_kind is not None else None
        if op is None:
            op = self._operation(self._servers, msg.sender, msg.kind, SpanKind.SERVER)
        header = msg.trace
        if len(header) == 55:
            return [header[3:35], self._ids.span_id(), header[36:52], now, op, False, 0.0, None]
        return [self._traces.next(), self._ids.span_id(), "", now, op, False, 0.0, None]

    def end(self, span: list[Any], outcome: Outcome, at: float) -> None:
        span[6] = at
        span[7] = outcome
        self._append(span)

    def close(self, span: list[Any], at: float) -> None:
        span[6] = at
        self._append(span)

    def queued(self, span: list[Any], wait: float, length: int) -> None:
        span[RETRY] = (wait, length)  # a SERVER span is never a retry: the slot holds its queueing

    def _operation(
        self, table: dict[str, list[Operation | None]], peer: str, kind: Kind, span_kind: SpanKind
    ) -> Operation:
        """Made on a cache miss: once per peer and message kind for the run's life."""
        block = self._block
        if span_kind is SpanKind.CLIENT:
            service = peer_service(peer)
            op = Operation(
                block,
                span_name(kind, service),
                span_kind,
                client_attributes(kind, service, self._ip_of(peer)),
            )
        else:
            attributes = server_attributes(kind, block.service, self._ip_of(peer))
            op = Operation(block, span_name(kind, block.service), span_kind, attributes)
        table.setdefault(peer, [None] * _KINDS)[kind] = op
        return op


class SpanRecord(NamedTuple):
    """A finished span, flattened for record sinks (e.g. verify's expected record). Made off the event
    loop from a record or, for spans made through the SDK API (deploy events), from the SDK span."""

    trace_id: str  # 32 hex characters
    span_id: str  # 16 hex characters
    parent_id: str  # 16 hex characters, "" for a root span
    start_ns: int
    end_ns: int
    instance: str  # service.instance.id, spigo's nine-field name
    service: str  # service.name
    name: str
    kind: str  # SpanKind name: CLIENT, SERVER, INTERNAL, ...
    error: bool  # the span's status is ERROR
    status_message: str  # the error reason ("" when not an error)
    attributes: dict[str, Any]


def record_attributes(record: list[Any]) -> tuple[dict[str, Any], str | None]:
    """A record's full attributes, in the SDK path's order, and its error reason (None: not an error)."""
    op: Operation = record[OPERATION]
    attributes = dict(op.attributes)
    retry = record[RETRY]
    if retry is True:
        attributes[RETRY_ATTRIBUTE] = True
    elif retry:
        attributes.update(queue_attributes(*retry))
    outcome = record[OUTCOME]
    if outcome is None:
        return attributes, None
    ended, reason = outcome_attributes(outcome)
    attributes.update(ended)
    return attributes, reason


def view_of(item: list[Any] | ReadableSpan) -> SpanRecord:
    if type(item) is list:
        op: Operation = item[OPERATION]
        attributes, reason = record_attributes(item)
        return SpanRecord(
            item[TRACE], item[SPAN], item[PARENT], int(item[START] * 1e9), int(item[END] * 1e9),
            op.block.instance, op.block.service, op.name, op.kind.name, reason is not None, reason or "",
            attributes,
        )  # fmt: skip
    span: ReadableSpan = item  # type: ignore[assignment]
    context = span.get_span_context()
    resource = span.resource.attributes
    status = span.status
    return SpanRecord(
        f"{context.trace_id:032x}", f"{context.span_id:016x}",
        f"{span.parent.span_id:016x}" if span.parent is not None else "",
        span.start_time or 0, span.end_time or 0,
        str(resource.get("service.instance.id", "")), str(resource.get("service.name", "")),
        span.name, span.kind.name, status.status_code is StatusCode.ERROR, status.description or "",
        dict(span.attributes or {}),
    )  # fmt: skip


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


def record_json(record: list[Any]) -> str:
    """A record as one line of the SDK's console format (ReadableSpan.to_json, on one line)."""
    view = view_of(record)
    op: Operation = record[OPERATION]
    status: dict[str, str] = {"status_code": "ERROR" if view.error else "UNSET"}
    if view.error:
        status["description"] = view.status_message
    events = []
    if view.error:
        reason = view.status_message
        events.append(
            {"name": "exception", "timestamp": _iso(view.end_ns), "attributes": error_event(reason)}
        )
    return json.dumps(
        {
            "name": view.name,
            "context": {
                "trace_id": f"0x{view.trace_id}",
                "span_id": f"0x{view.span_id}",
                "trace_state": "[]",
            },
            "kind": str(op.kind),
            "parent_id": f"0x{view.parent_id}" if view.parent_id else None,
            "start_time": _iso(view.start_ns),
            "end_time": _iso(view.end_ns),
            "status": status,
            "attributes": view.attributes,
            "events": events,
            "links": [],
            "resource": {"attributes": dict(op.block.resource), "schema_url": ""},
        }
    )
