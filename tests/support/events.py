"""Reading a run's events.jsonl in tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAG_KINDS = ("simulator-lag-start", "simulator-lag-end")


def timeline_events(out: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The events the run's timeline made (of one `kind`, if given), without the machine's own
    `simulator-lag-*` labels: those depend on how busy the machine was, which no test controls
    (tests/test_lag*.py check them)."""
    lines = (out / "events.jsonl").read_text().splitlines()
    events = [e for e in map(json.loads, lines) if e["kind"] not in LAG_KINDS]
    return events if kind is None else [e for e in events if e["kind"] == kind]
