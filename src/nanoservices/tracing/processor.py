"""A span processor that counts: every span ended is exported or dropped with a reason, per exporter.

Why not the SDK's BatchSpanProcessor: its drops are silent (a full queue just loses spans), it has one
exporter, and its shutdown can block for the exporter's whole retry budget. Here each exporter has a
lane (bounded deque + one export thread), so a slow backend only fills its own lane, and `shutdown`
returns within its bound with every span accounted for: created == exported + sum(dropped).

The per-span path (`on_end`) is a length check and a deque append per lane, on the host's event-loop
thread; deque append/popleft are atomic, so the export thread needs no lock to consume.

`RecordProcessor` is the fast span path's variant: the event loop only appends each finished record to one
intake deque (no count, no check); a pump thread moves the intake into the lanes every few milliseconds,
applying each lane's bound there, and `created` is what it took plus what is still waiting.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

QUEUE_FULL = "queue_full"  # the lane's queue was full when the span ended (backend too slow)
EXPORT_FAILED = "export_failed"  # the exporter gave up on the batch (errors, retries exhausted, timeout)
BACKEND_DOWN = "backend_down"  # left in the queue at shutdown while the backend was failing
SHUTDOWN_TIMEOUT = "shutdown_timeout"  # still queued or in flight when the shutdown bound ran out
AFTER_SHUTDOWN = "after_shutdown"  # ended after the processor shut down
_SLACK_S = 0.5  # of the shutdown bound, kept for stopping exporters and joining threads


class Lane:
    """One exporter fed by its own bounded queue and export thread."""

    def __init__(self, name: str, exporter: SpanExporter, capacity: int, batch: int, delay_s: float) -> None:
        self.name = name
        self.exporter = exporter
        self.capacity = capacity
        self.batch = batch
        self.delay_s = delay_s
        self.queue: deque[ReadableSpan] = deque()
        self.wake = threading.Event()
        self.queue_full = 0  # written by the producer thread only
        self.after_shutdown = 0  # producer only
        self.exported = 0  # export thread only, until `closed`
        self.failed = 0  # export thread only, until `closed`
        self.in_flight = 0
        self.healthy = True  # the last export succeeded
        self.dropped: dict[str, int] = {}  # filled at shutdown
        self._lock = threading.Lock()  # guards the hand-over of the counts at shutdown
        self._closed = False
        self._stopping = False
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name=f"spans-{name}"[:60], daemon=True)
        self._thread.start()

    def _run(self) -> None:
        queue, wake = self.queue, self.wake
        while True:
            if len(queue) < self.batch and not self._stopping:
                wake.wait(self.delay_s)
                wake.clear()
            if self._stopping and (
                not queue or time.monotonic() >= self._deadline or not self.healthy or self._closed
            ):
                return
            if not queue:
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), self.batch))]
            self.in_flight = len(batch)
            ok = self._export(batch)
            with self._lock:
                if self._closed:  # shutdown already counted this batch as dropped
                    return
                self.in_flight = 0
                self.healthy = ok
                if ok:
                    self.exported += len(batch)
                else:
                    self.failed += len(batch)

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        try:
            return self.exporter.export(batch) is SpanExportResult.SUCCESS
        except Exception:  # a backend problem must never reach the simulation: count it instead
            return False

    def stop(self, deadline: float) -> None:
        """Ask the thread to drain until `deadline` (monotonic) and stop. A lane whose backend is
        failing does not drain: its exporter is stopped at once, which also cuts short a retry."""
        self._deadline = deadline
        self._stopping = True
        self.wake.set()
        if not self.healthy:
            self._stop_exporter()

    def _stop_exporter(self) -> None:
        with contextlib.suppress(Exception):  # the exporter's own cleanup failing changes no count
            self.exporter.shutdown()

    def close(self, deadline: float) -> None:
        """Wait for the drain (bounded), then settle the counts: what is left is dropped."""
        self._thread.join(max(deadline - _SLACK_S - time.monotonic(), 0))
        with self._lock:
            self._closed = True
            left = len(self.queue) + self.in_flight
            self.queue.clear()
            self.in_flight = 0
            healthy = self.healthy
        if healthy:  # an unhealthy lane's exporter was stopped in stop()
            self._stop_exporter()  # aborts an export stuck in retries, so the thread ends soon
        self._thread.join(max(deadline - time.monotonic(), 0))
        for reason, count in (
            (QUEUE_FULL, self.queue_full),
            (EXPORT_FAILED, self.failed),
            (SHUTDOWN_TIMEOUT if healthy else BACKEND_DOWN, left),
        ):
            if count:
                self.dropped[reason] = count

    def offer(self, items: list[Any]) -> None:
        """From the fast path's pump thread (this lane's only producer): take what fits, count the rest."""
        room = self.capacity - len(self.queue)
        if room >= len(items):
            self.queue.extend(items)
        else:
            self.queue.extend(items[: max(room, 0)])
            self.queue_full += len(items) - max(room, 0)
        if len(self.queue) >= self.batch:
            self.wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def counts(self) -> dict[str, Any]:
        dropped = dict(self.dropped)
        late = self.after_shutdown + len(self.queue)  # the queue was emptied at close: these came later
        if late:
            dropped[AFTER_SHUTDOWN] = late
        return {"exported": self.exported, "dropped": dropped}


class CountingSpanProcessor(SpanProcessor):
    """Shared by every TracerProvider of a host process; fans each ended span out to all lanes."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        self.lanes = tuple(lanes)
        self.created = 0
        self._open = True
        self._result: dict[str, Any] | None = None  # set once shut down
        self._shutdown_lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.created += 1
        if not self._open:
            for lane in self.lanes:
                lane.after_shutdown += 1
            return
        for lane in self.lanes:
            queue = lane.queue
            n = len(queue)
            if n >= lane.capacity:
                lane.queue_full += 1
            else:
                queue.append(span)
                if n + 1 == lane.batch:
                    lane.wake.set()

    def add_lane(self, lane: Lane) -> None:
        """One more exporter (e.g. a record sink); add it before the first span ends, or its counts
        miss what ended earlier."""
        self.lanes = (*self.lanes, lane)

    def _close_intake(self) -> None:
        """Stop taking spans (the fast path first hands its intake over)."""
        self._open = False

    def _late(self) -> int:
        """Spans that ended after shutdown and are not counted yet (the fast path's leftover intake)."""
        return 0

    def shutdown_within(self, timeout_s: float) -> dict[str, Any]:
        """Flush what it can within `timeout_s`, then account for the rest; idempotent, never hangs."""
        with self._shutdown_lock:
            if self._result is None:
                self._close_intake()
                deadline = time.monotonic() + timeout_s
                for lane in self.lanes:
                    lane.stop(deadline)
                for lane in self.lanes:
                    lane.close(deadline)
            late = self._late()
            for lane in self.lanes:
                lane.after_shutdown += late
            self._result = {  # recomputed on every call: spans ended since are counted as dropped
                "created": self.created,
                "exporters": {lane.name: lane.counts() for lane in self.lanes},
            }
            return self._result

    def shutdown(self) -> None:
        """What a TracerProvider calls; the host calls `shutdown_within` with its bound instead."""

    def so_far(self) -> dict[str, Any]:
        """Each lane's exports and drops while the run goes on (read without a lock: a live display)."""
        return {
            lane.name: {
                "exported": lane.exported,
                "dropped": {QUEUE_FULL: lane.queue_full, EXPORT_FAILED: lane.failed},
            }
            for lane in self.lanes
        }

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wake every lane; exports stay asynchronous (the bound lives in `shutdown_within`)."""
        for lane in self.lanes:
            lane.wake.set()
        return True


class RecordProcessor(CountingSpanProcessor):
    """The fast path's processor: an intake deque for records (and SDK spans, via `on_end`), a pump thread
    that fans batches out to the lanes. Items are fast records or SDK spans; lanes' exporters take both."""

    def __init__(self, lanes: Sequence[Lane], pump_every_s: float) -> None:
        super().__init__(lanes)
        self.intake: deque[Any] = deque()
        self.append = self.intake.append  # the hot path's whole cost: one append per finished span
        self._taken = 0
        self._move_lock = threading.Lock()
        self._pump_stop = threading.Event()
        self._pump_every_s = pump_every_s
        self._pump = threading.Thread(target=self._run, name="spans-pump", daemon=True)
        self._pump.start()

    @property  # type: ignore[override]
    def created(self) -> int:
        return self._taken + len(self.intake)

    @created.setter
    def created(self, value: int) -> None:  # the base class initialises it; counted from the intake here
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.intake.append(span)

    def _run(self) -> None:
        while not self._pump_stop.wait(self._pump_every_s):
            self._move()

    def _take(self) -> list[Any]:
        intake = self.intake
        items = [intake.popleft() for _ in range(len(intake))]
        self._taken += len(items)
        return items

    def _move(self) -> None:
        with self._move_lock:
            items = self._take()
            if items:
                for lane in self.lanes:
                    lane.offer(items)

    def _close_intake(self) -> None:
        self._pump_stop.set()
        self._pump.join()
        self._move()  # what ended before shutdown goes to the lanes, within their bounds
        self._open = False

    def _late(self) -> int:
        with self._move_lock:
            return len(self._take())

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._move()
        return super().force_flush(timeout_millis)
