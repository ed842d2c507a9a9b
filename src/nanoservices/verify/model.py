"""What an adapter hands the comparison: a backend's spans of one trace in one shape, and what it keeps."""

from __future__ import annotations

from typing import Any, NamedTuple


class FoundSpan(NamedTuple):
    """One span as a backend returned it, normalised (ids lower-case hex, kind as OTel's name)."""

    span_id: str
    parent_id: str  # "" for a root
    service: str
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL ("" when the backend does not keep it)
    error: bool
    attributes: dict[str, Any]


class Keeps(NamedTuple):
    """What a backend stores of a span, so a field it never keeps is not counted as altered."""

    service: bool = True
    kind: bool = True
    lower_case_names: bool = False  # Zipkin lower-cases span and service names on the way in


class BackendError(Exception):
    """The backend is down, refused us, or answered something that is not a trace: one line, no traceback."""


def text(value: Any) -> str:
    """An attribute value as a backend that stringifies (Zipkin tags) would show it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(text(v) for v in value)
    return str(value)
