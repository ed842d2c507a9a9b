"""Fast-path records straight to an OTLP ExportTraceServiceRequest (protobuf bytes).

A span is spliced from pieces: its ids (one `bytes.fromhex` over tags and hex ids), its operation's
pre-encoded name, kind and start attributes, its two timestamps (one struct pack), and a pre-encoded
block per outcome (status code attribute, error status; the `exception` event carries the end time).
Spans are grouped under their instance's pre-encoded resource and scope. Spans made through the SDK API
(deploy-event spans) may share a batch: they go through otlp_encode's SDK encoder, grouped the same way.
Field order is the protobuf field order, as the SDK's encoder writes it; tests parse both and compare.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from nanoservices.messages import Status as Outcome
from nanoservices.runtime.spans import RETRY_ATTRIBUTE, error_event, outcome_attributes, queue_attributes
from nanoservices.tracing.otlp_encode import (
    _FLAGS_LOCAL,
    _FLAGS_REMOTE,
    _attributes,
    _key_value,
    _ld,
    _varint,
)
from nanoservices.tracing.otlp_encode import encode_request as encode_sdk_spans
from nanoservices.tracing.records import InstanceBlock, Operation

_times = struct.Struct("<BQBQ").pack  # field 7 (fixed64 start), field 8 (fixed64 end)
_event_time = struct.Struct("<BQ").pack  # Event field 1 (fixed64 time)
_LENGTHS = [_varint(n) for n in range(16_384)]
_RETRY = _key_value(b"\x4a", RETRY_ATTRIBUTE, True)
_UNSET = b"\x7a\x00"  # field 15: an empty Status (code UNSET)


def _outcome(outcome: Outcome | None) -> tuple[bytes, bytes, bytes]:
    """(end attributes, status, event body after its time) for spans ending with `outcome`."""
    if outcome is None:
        return b"", _UNSET, b""
    attributes, reason = outcome_attributes(outcome)
    encoded = _attributes(b"\x4a", attributes)
    if reason is None:
        return encoded, _UNSET, b""
    status = _ld(b"\x7a", _ld(b"\x12", reason.encode()) + b"\x18\x02")  # message, code ERROR
    event = _ld(b"\x12", b"exception") + _attributes(b"\x1a", error_event(reason))
    return encoded, status, event


_OUTCOMES: dict[Outcome | None, tuple[bytes, bytes, bytes]] = {o: _outcome(o) for o in (None, *Outcome)}


def _span(record: list[Any]) -> bytes:
    trace, span_id, parent, start, op, retry, end, outcome = record
    op_: Operation = op
    if parent:
        ids = bytes.fromhex("0a10" + trace + "1208" + span_id + "2208" + parent)
        flags = _FLAGS_REMOTE if op_.remote_parent else _FLAGS_LOCAL
    else:
        ids = bytes.fromhex("0a10" + trace + "1208" + span_id)
        flags = _FLAGS_LOCAL
    end_ns = int(end * 1e9)
    ended, status, event = _OUTCOMES[outcome]
    if event:
        body = _event_time(0x09, end_ns) + event
        event = b"\x5a" + _varint(len(body)) + body
    body = b"".join(
        (
            ids,
            op_.head,
            _times(0x39, int(start * 1e9), 0x41, end_ns),
            op_.attributes_bytes,
            (_RETRY if retry is True else _attributes(b"\x4a", queue_attributes(*retry))) if retry else b"",
            ended,
            event,
            status,
            flags,
        )
    )
    n = len(body)
    return b"\x12" + (_LENGTHS[n] if n < 16_384 else _varint(n)) + body


def encode_items(items: Sequence[list[Any] | ReadableSpan]) -> bytes:
    """An ExportTraceServiceRequest of fast records (lists) and SDK spans, in any mix."""
    grouped: dict[InstanceBlock, list[bytes]] = {}
    sdk: list[ReadableSpan] = []
    for item in items:
        if type(item) is list:
            block = item[4].block
            spans = grouped.get(block)
            if spans is None:
                spans = grouped[block] = []
            spans.append(_span(item))
        else:
            sdk.append(item)  # type: ignore[arg-type]
    out = []
    for block, spans in grouped.items():
        scope_spans = _ld(b"\x12", block.scope_bytes + b"".join(spans))
        out.append(_ld(b"\x0a", block.resource_bytes + scope_spans))
    if sdk:
        out.append(encode_sdk_spans(sdk))
    return b"".join(out)
