"""The run's events as spans of service `asgard`, so a tracing back end shows deploys and chaos
beside the traces they affect. An event listener (scenario.events.EventBus) in the driver: the
OpenTelemetry SDK loads on the first event, so an untraced or event-free run never pays for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nanoservices.scenario.events import Event
    from nanoservices.tracing.host import HostTracing
    from nanoservices.tracing.settings import TracingSettings

ASGARD = "asgard"


class EventSpans:
    """One zero-length span per event at the event's time on the run's clock: `run_started` (epoch
    seconds) plus the event's `at`. `run_started` may be a callable, read at each event, for a core
    that builds its listeners before the run's clock starts. `counts(bound)` once at shutdown: the
    spans' counts for the run's span accounting; an event after it raises (the bus counts it)."""

    def __init__(self, tracing: TracingSettings, arch: str, run_started: float | Callable[[], float]) -> None:
        self.settings = tracing
        self.arch = arch
        self._run_started = run_started
        self._tracing: HostTracing | None = None
        self._tracer: Any = None
        self._counted = False

    def __call__(self, event: Event) -> None:
        if self._counted:
            raise RuntimeError(f"event {event.kind.value} after the event spans were counted")
        if self._tracer is None:
            self._tracer = self._start()
        name = f"{event.kind.value} {event.service}".strip()
        attributes: dict[str, Any] = {"nanoservices.event": event.kind.value, "peer.service": event.service}
        if event.versions:
            attributes["nanoservices.versions"] = list(event.versions)
        if event.instances:
            attributes["nanoservices.instances"] = list(event.instances)
        started = self._run_started() if callable(self._run_started) else self._run_started
        at = int((started + event.at) * 1e9)
        span = self._tracer.start_span(name, attributes=attributes, start_time=at)
        span.end(end_time=at)

    def _start(self) -> Any:
        from nanoservices.plan import InstanceSpec
        from nanoservices.tracing import HostTracing

        self._tracing = HostTracing(self.settings, host_label=ASGARD)
        asgard = InstanceSpec(
            name=f"{self.arch}.*.*..asgard00...asgard.asgard", node=ASGARD, service=ASGARD, package=ASGARD,
            region="*", zone="*", ip="", dependencies=(), cross_region=True,
        )  # fmt: skip
        return self._tracing.tracer_for(asgard)

    def counts(self, bound: float) -> list[dict[str, object]]:
        """The event spans' counts and flow part, flushed within `bound` seconds, as one host's
        result ([] when no event came: no tracing was made). The same answer if asked again."""
        self._counted = True
        if self._tracing is None:
            return []
        tracing = self._tracing
        return [{"spans": tracing.shutdown(bound), "flow_part": tracing.flow_part()}]
