"""Reading a run's events.jsonl in tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAG_KINDS = ("simulator-lag-start", "simulator-lag-end")


def timeline_events(out: Path) -> list[dict[str, Any]]:
    """The events the run's timeline made, without the machine's own `simulator-lag-*` labels: those
    depend on how busy the machine was, which no test controls (tests/test_lag*.py check them)."""
    lines = (out / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] not in LAG_KINDS]
