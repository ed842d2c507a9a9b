"""The event a `load:` action writes to events.jsonl when its time comes."""

from __future__ import annotations

from nanoservices.load import Burst, Diurnal, Ramp, Step
from nanoservices.scenario.actions import Load
from nanoservices.scenario.events import Event, EventKind


def load_event(action: Load, at: float) -> Event:
    """`shape` names the change; its figures (requests/s, seconds) ride as details."""
    shape = action.shape
    details: dict[str, object]
    if isinstance(shape, Step):
        details = {"shape": "step", "rate": shape.rate, "detail": f"to {shape.rate:g}/s"}
    elif isinstance(shape, Ramp):
        details = {
            "shape": "ramp",
            "to": shape.to,
            "over": shape.over,
            "detail": f"to {shape.to:g}/s over {shape.over:g}s",
        }
    elif isinstance(shape, Diurnal):
        details = {
            "shape": "diurnal",
            "min": shape.low,
            "max": shape.high,
            "period": shape.period,
            "detail": f"{shape.low:g}-{shape.high:g}/s every {shape.period:g}s",
        }
    else:
        assert isinstance(shape, Burst)
        lasts = action.until - action.at
        details = {
            "shape": "burst",
            "rate": shape.rate,
            "for": lasts,
            "detail": f"{shape.rate:g}/s for {lasts:g}s",
        }
    return Event(at, EventKind.LOAD_CHANGE, action.service, details={**details, "origin": action.origin})
