"""An instance's capacity on its request path: each request waits for a worker (capacity.Gate).

Why apart from instance.py: an instance without capacity must pay one `is None` test per request
and nothing else, so everything about queueing lives here. A request arrives: its SERVER span
starts (it covers the queue wait and the service), the gate admits, queues or rejects it. A
rejected request is answered at once with `Status.REJECTED` (HTTP 503). An admitted one is handled
by the behaviour when its service time is over; its worker is free again then, or, for a blocking
server (thread per request), when the instance replies (instance.py's `_send_held`).

Per second and per (service, version, zone) the series row gains sums that add up across instances
and hosts: `arrivals`, and the `queue` length and `in_service` count each arrival found (divided by
arrivals: their means on arrival, which for Poisson arrivals are the time averages), `rejected`,
`busy` (worker-seconds in service) and `workers` (the workers of the instances that took requests
in that second), so utilisation is busy / workers.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from nanoservices.capacity import Capacity, Gate
from nanoservices.messages import Message, Status

if TYPE_CHECKING:
    from nanoservices.runtime.instance import InstanceRuntime

CAPACITY_KEYS = (
    "arrivals",
    "queue",
    "in_service",
    "rejected",
    "busy",
    "workers",
)  # the series row's extra keys


class Admission:
    __slots__ = ("_busy_mark", "_instance", "_row", "_second", "gate")

    def __init__(self, instance: InstanceRuntime, capacity: Capacity) -> None:
        host = instance._host
        self._instance = instance
        self.gate = Gate(capacity, instance.rng, host.delays, host.clock)
        self._busy_mark = 0.0
        self._second = -1
        self._row: dict[str, Any] = {}

    def arrive(self, msg: Message) -> None:
        """A request for the instance: into its SERVER span and the gate, or rejected at once."""
        instance = self._instance
        tracer = instance._tracer
        span = None
        if tracer is not None:
            span = tracer.server(msg, msg.received)
            instance._serving[(msg.reply_to, msg.request_id)] = span
        gate = self.gate
        if gate.capacity.blocking and instance.profile is not None:
            msg.served_with = instance.profile  # its reply goes through _reply_profiled, which releases
        row = self._sample(msg.received)
        if gate.arrive(partial(self._admitted, msg, span)):
            return
        row["rejected"] = row.get("rejected", 0) + 1
        instance._count(msg.received, 0.0, Status.REJECTED)
        instance._send_reply(msg, "", Status.REJECTED)

    def _admitted(self, msg: Message, span: Any, waited: float, ahead: int) -> None:
        """Its service time is over: the behaviour handles it now, inside its SERVER span."""
        instance = self._instance
        gate = self.gate
        if not instance.running:  # stopped meanwhile: its span is ended, its caller fails it
            gate.release()
            return
        if span is not None:
            instance._tracer.queued(span, waited, ahead)  # type: ignore[union-attr]
        previous, instance._current = instance._current, span
        try:
            instance.behaviour.on_message(msg)
        finally:
            instance._current = previous
        if not gate.capacity.blocking:
            gate.release()

    def _sample(self, now: float) -> dict[str, Any]:
        """This second's series row, with the gate's queue, in-service and busy time so far."""
        instance = self._instance
        gate = self.gate
        second = int(now - instance._host.run_start)
        row = self._row
        if second != self._second:
            self._second = second
            row = self._row = instance._host.stats.series_row(second, instance._group)
            row["workers"] = row.get("workers", 0) + gate.capacity.workers
        gate.utilisation(1.0)  # brings busy_seconds up to now
        busy = gate.busy_seconds
        row["busy"] = row.get("busy", 0.0) + busy - self._busy_mark
        self._busy_mark = busy
        row["arrivals"] = row.get("arrivals", 0) + 1
        row["queue"] = row.get("queue", 0) + gate.queued
        row["in_service"] = row.get("in_service", 0) + gate.in_service
        return row

    def stop(self, answer: bool) -> None:
        """The instance stops: requests still queued are answered STOPPED (`answer`), or dropped
        with a host that is being killed (their callers time out, as for every request it held)."""
        instance = self._instance
        for admitted in self.gate.drop_waiting():
            msg = admitted.args[0]  # type: ignore[attr-defined]
            if answer:
                instance._send_reply(msg, "", Status.STOPPED)
