"""Durations, shares and rates as an architecture or scenario file writes them, as plain floats.

Each parser raises ValueError with a message fit for the end of a one-line problem, so the
schema can hand it straight to the user.
"""

from __future__ import annotations

import json
import math
import re

from nanoservices.durations import parse_duration

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def shown(value: object) -> str:
    """A short rendering of the offending value for an error line."""
    if value is None:
        return "null"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def seconds_text(seconds: float) -> str:
    """`40s`, `1.5s`, `200ms`: how a problem line shows a time back to the user."""
    if seconds == 0 or seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as 200ms, 5s, 2m or 1m30s."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration such as 5s, 200ms or 2m, got {shown(value)}")
    try:
        seconds = float(value) if not isinstance(value, str) else parse_duration(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{shown(value)} is not a duration; use 0 or more, such as 5s, 200ms or 2m")
    return seconds


def _fraction(value: object, what: str) -> float:
    """A fraction from 0.1 or "10%"; range checks are the caller's."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a {what} such as 10% or 0.1, got {shown(value)}")
    text = value.strip() if isinstance(value, str) else ""
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{shown(value)} is not a {what}; write a percentage (10%) or a fraction (0.1)"
        ) from None
    if not math.isfinite(fraction):
        raise ValueError(f"{shown(value)} is not a {what}; write a percentage (10%) or a fraction (0.1)")
    return fraction


def share(value: object) -> float:
    """A traffic share: more than 0 % and at most 100 %."""
    fraction = _fraction(value, "share")
    if fraction <= 0:
        raise ValueError(f"share {_as_given(value)} is not above 0%; give a share such as 10% or 0.1")
    if fraction > 1:
        raise ValueError(f"share {_as_given(value)} is over 100%; give a share such as 10% or 0.1")
    return fraction


def rate(value: object) -> float:
    """An error rate: a fraction from 0 to 1 (or 0 % to 100 %)."""
    fraction = _fraction(value, "rate")
    if not 0 <= fraction <= 1:
        raise ValueError(
            f"rate {_as_given(value)} is outside 0-1; give a fraction such as 0.3 or a percentage such as 30%"
        )
    return fraction


def number(value: object) -> float:
    """A plain finite number (ints allowed, booleans and strings not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {shown(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {shown(value)}")
    return result


def name(value: object) -> str:
    """A service, package, region or zone name: non-empty text."""
    if not isinstance(value, str):
        raise ValueError(f"expected a name (text), got {shown(value)}")
    if not value.strip():
        raise ValueError("empty name; give a name")
    return value


def version(value: object) -> str:
    """A version label such as v2; numbers are refused because YAML turns 2.10 into 2.1."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"version {shown(value)} is a number; quote it ('{value}') or write v{value}")
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"version {shown(value)} is not a label; use letters, digits, '.', '_' or '-', such as v2"
        )
    return value


def _as_given(value: object) -> str:
    return (
        value.strip() if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    )
