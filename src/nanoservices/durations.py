"""Go-style durations ("10ms", "1.5s", "2m") as spigo's flags take them, or plain seconds."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError with a usable message."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"{text!r} is not a duration; use seconds (2.5) or Go style (10ms, 1s, 1m30s)")
    return total


def parse_chat_kv(text: str) -> float:
    """spigo's `-kv chat:10ms`: the denominator's request interval, 1 ms to 1 h, in seconds."""
    key, sep, value = text.partition(":")
    if not sep or key != "chat":
        raise ValueError(f"{text!r}: the only key is chat, as in chat:10ms")
    if not _PART.search(value):
        raise ValueError(f"{text!r}: the chat interval needs a unit, as in chat:10ms (spigo's rule)")
    interval = parse_duration(value)
    if not 0.001 <= interval <= 3600:
        raise ValueError(f"{text!r}: the chat interval must be between 1ms and 1h")
    return interval
