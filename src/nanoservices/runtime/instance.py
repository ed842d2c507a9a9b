"""One simulated instance inside a host: the InstanceContext its behaviour talks to.

Requests are matched to responses by a per-instance request id. A pending entry is either a
callback (ctx.call) or the upstream request being relayed (ctx.forward); either way every request
ends exactly once: answered, failed by the runtime, or counted in flight at shutdown.

This module is the server side (requests in, replies out under the instance's profile) and the
lifecycle; the client side (requests out, retries, breakers, routes) is runtime/client.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nanoservices.messages import RESPONSE_FOR, Kind, Message, Status
from nanoservices.outputs.histogram import bucket_of
from nanoservices.outputs.records import ExitReason
from nanoservices.packages.base import Behaviour, BehaviourSettings, Peer, ReplyHandler, behaviour_for
from nanoservices.plan import InstanceSpec
from nanoservices.runtime.admission import Admission
from nanoservices.runtime.affected import Affected, Sample
from nanoservices.runtime.client import (  # noqa: F401 (imported from here)
    CONNECTION_FAILURES,
    NOT_THE_DEPENDENCYS,
    NOT_TRIED,
    RETRYABLE,
    ClientSide,
    Dependency,
    Pending,
)
from nanoservices.runtime.resilience import Blackouts
from nanoservices.runtime.ticker import Ticker

if TYPE_CHECKING:
    from nanoservices.load import RateSchedule
    from nanoservices.model.behaviour import VersionBehaviour
    from nanoservices.runtime import spans
    from nanoservices.runtime.host import HostCore
    from nanoservices.runtime.spans import OpenSpan as Span
    from nanoservices.runtime.spans import SpanHooks


def _load_spans() -> None:
    """Untraced hosts never import OpenTelemetry: one module less in every actor's start-up."""
    global spans
    from nanoservices.runtime import spans


class InstanceRuntime(ClientSide):
    def __init__(self, host: HostCore, spec: InstanceSpec, settings: BehaviourSettings, seed: int) -> None:
        self.spec = spec
        self.settings = settings
        self._seed = seed
        self._rng: random.Random | None = None  # made on first use: see rng
        self.name = spec.name
        self.running = False
        self.pending: dict[int, Pending] = {}
        self._host = host
        self._routes: dict[str, Peer] = {}
        self._groups: dict[tuple[str, str], tuple[str, ...]] = {}  # (service, version) -> its routes
        self._deps: dict[str, Dependency] = {}  # route name -> its service's Dependency
        self._by_service: dict[str, Dependency] = {}
        self._blackouts = Blackouts()
        self._next_request = 0
        self._timers: list[Ticker] = []
        self._ticking_since: float | None = None  # a traffic source's start (its rate's clock)
        behaviour_class = behaviour_for(spec.package)
        self.is_traffic_source = behaviour_class.generates_traffic
        self._zone_local = not behaviour_class.cross_zone
        self.behaviour: Behaviour = behaviour_class(self)
        self._tracer: SpanHooks | None = None  # the span hooks (fast records or SDK spans), None untraced
        if host.tracing is not None:
            _load_spans()
            self._tracer = spans.hooks_for(host.tracing, spec, seed, host.ip_of)
        self._serving: dict[tuple[str, int], Span] = {}  # SERVER spans of requests not yet answered
        self._current: Span | None = None  # the SERVER span whose handling is running now
        # The per-second series row its replies are counted in, found again only when the second changes.
        self._group = f"|{spec.service}|{spec.version}|{spec.zone}"
        self._row_second = -1
        self._row: dict[str, Any] = {}
        self.profile: VersionBehaviour | None = None
        self._serving_with: VersionBehaviour | None = None  # the profile, None if it changes nothing
        self._admission: Admission | None = None  # workers and queue, when its profile has a capacity
        self._send_profiled = self._send_reply  # how _reply_profiled sends: _send_held when blocking
        self._affected: Affected | None = None  # while an incident is in force: its effects, sampled
        if spec.profile is not None:
            self.set_profile(spec.profile)

    # --- InstanceContext -------------------------------------------------------------------
    @property
    def rng(self) -> random.Random:
        """Seeded from the run seed and the instance name, made when first drawn from: seeding a
        generator costs ~10 µs and 2.5 KB, and most of 100,000 pirates never draw in a short run."""
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(f"{self._seed}:{self.name}")
        return rng

    @property
    def routes(self) -> Mapping[str, Peer]:
        return self._routes

    def now(self) -> float:
        return self._host.clock()

    def call(self, target: str, kind: Kind, payload: str, on_reply: ReplyHandler) -> None:
        if self._host.shares:
            target = self._balance(target)
        self._request(target, kind, payload, on_reply, self._current)

    def forward(self, request: Message, target: str) -> None:
        parent = (
            self._serving.get((request.reply_to, request.request_id)) if self._tracer is not None else None
        )
        if self._host.shares:
            target = self._balance(target)
        self._request(target, request.kind, request.payload, request, parent)

    def reply(self, request: Message, payload: str, status: Status = Status.OK) -> None:
        """Answer at once, or as the profile in force when the request arrived says: a request
        that arrived before an incident began is served without it, one that arrived during it
        with it, however long the calls it made downstream took."""
        profile = request.served_with
        if profile is not None:
            self._reply_profiled(request, payload, status, profile)
            return
        now = self._host.clock()
        self._count(now, now - request.received, status)
        self._send_reply(request, payload, status)

    def _reply_profiled(
        self, request: Message, payload: str, status: Status, profile: VersionBehaviour
    ) -> None:
        """Answer after a sampled service time, failing at the profile's error rate. One latency draw
        and one error draw per request, from the instance's seeded rng, whatever the outcome."""
        rng = self.rng
        latency, errors = profile.latency, profile.errors
        delay = latency.sample(rng) if latency is not None else 0.0
        failed = errors is not None and errors.fails(rng) and status is Status.OK
        if failed:
            status, payload = Status.ERROR, ""
        done = self._host.clock() + delay
        self._count(done, done - request.received, status)
        affected = self._affected
        if affected is not None and profile is affected.profile and (failed or affected.slows):
            affected.add(request.trace, done)
        send = self._send_profiled  # a blocking server's frees its worker when sent
        if delay > 0:
            self._host.delays.later(delay, send, request, payload, status)
        else:
            send(request, payload, status)

    def _send_held(self, request: Message, payload: str, status: Status) -> None:
        """A blocking server's reply: its worker was held until now."""
        self._send_reply(request, payload, status)
        if self._admission is not None:
            self._admission.gate.release()

    def set_profile(self, profile: VersionBehaviour | None) -> Sample | None:
        """How this instance serves the requests that arrive from now on (a deploy's version, a
        latency or error incident); None: answer at once, never fail by itself. Requests already
        received keep the profile they arrived under. A profile other than its own is an incident's:
        the requests it affects are sampled until the instance is given its own back, and then
        that sample is returned (runtime/affected.py)."""
        self.profile = profile
        none = profile is None or (profile.latency is None and profile.errors is None)
        self._serving_with = None if none else profile
        capacity = profile.capacity if profile is not None else None
        blocking = capacity is not None and capacity.blocking
        self._send_profiled = self._send_held if blocking else self._send_reply
        if capacity is not None:  # the same gate from then on, its workers and queue as now given
            if self._admission is None:
                self._admission = Admission(self, capacity)
            else:
                self._admission.gate.capacity = capacity
        return self._sample_incident(profile)

    def _sample_incident(self, profile: VersionBehaviour | None) -> Sample | None:
        own = self.spec.profile
        if profile is None or profile == own:
            ended, self._affected = self._affected, None
            return ended.sample() if ended is not None else None
        slows = profile.latency != (own.latency if own is not None else None)
        if self._affected is None:
            self._affected = Affected(profile, slows)
        else:  # another incident on top of (or instead of) the one in force: one sample for both
            self._affected.profile, self._affected.slows = profile, slows
        return None

    def _count(self, at: float, service_time: float, status: Status) -> None:
        """One reply in the per-second series: its second since the traffic started, its service time."""
        second = int(at - self._host.run_start)
        if second != self._row_second:
            self._row_second = second
            self._row = self._host.stats.series_row(second, self._group)
        row = self._row
        row["requests"] += 1
        if status:
            row["errors"] += 1
        histogram = row["h"]
        bucket = bucket_of(service_time)
        histogram[bucket] = histogram.get(bucket, 0) + 1

    def _send_reply(self, request: Message, payload: str, status: Status) -> None:
        if self._tracer is not None:
            span = self._serving.pop((request.reply_to, request.request_id), None)
            if span is not None:
                self._tracer.end(span, status, self._host.clock())
        self._host.send(
            Message(
                kind=RESPONSE_FOR[request.kind],
                sender=self.name,
                target=request.reply_to,
                payload=payload,
                request_id=request.request_id,
                status=status,
            )
        )

    def send(self, target: str, kind: Kind, payload: str) -> None:
        if not self.running:
            return
        msg = Message(kind=kind, sender=self.name, target=target, payload=payload)
        if self._tracer is not None:
            now = self._host.clock()
            self._tracer.close(self._tracer.client(self._current, msg, now), now)
        self._host.send(msg)

    def connect(self, name: str) -> None:
        if name != self.name and name not in self._routes:
            self._add_route(name)
            self.behaviour.on_routes_changed()

    def every(self, interval: float, tick: Callable[[], None]) -> None:
        limit = self._host.max_in_flight if self.is_traffic_source else 0
        self._timers.append(Ticker(self, interval, tick, limit))

    def at_gaps(self, schedule: RateSchedule, poisson: bool, tick: Callable[[], None]) -> None:
        """Call tick at the schedule's rate over time, Poisson arrivals or uniform (runtime/gaps.py)."""
        from nanoservices.runtime.gaps import GapTicker

        limit = self._host.max_in_flight if self.is_traffic_source else 0
        self._timers.append(GapTicker(self, schedule, self.rng if poisson else None, tick, limit))

    # --- runtime side ----------------------------------------------------------------------
    def receive(self, msg: Message) -> None:
        """A request or one-way message for this instance, handled inside its SERVER span."""
        msg.received = self._host.clock()
        msg.served_with = self._serving_with
        if self._admission is not None and msg.is_request:
            self._admission.arrive(msg)  # waits for a worker (runtime/admission.py)
            return
        if self._tracer is None:
            self.behaviour.on_message(msg)
            return
        tracer = self._tracer
        span = tracer.server(msg, msg.received)
        if msg.is_request:
            self._serving[(msg.reply_to, msg.request_id)] = span
        previous, self._current = self._current, span
        try:
            self.behaviour.on_message(msg)
        finally:
            self._current = previous
        if not msg.is_request:
            tracer.close(span, self._host.clock())

    def start(self) -> None:
        self.running = True
        self._host.stats.instances_started += 1
        if self.is_traffic_source:
            self._ticking_since = self._host.clock()
        self.behaviour.start()

    def stop_timers(self) -> None:
        for ticker in self._timers:
            ticker.cancel()
        self._timers.clear()
        if self._ticking_since is not None:  # how long it ticked: the achieved rate's denominator
            self._host.stats.source_seconds += self._host.clock() - self._ticking_since
            self._ticking_since = None

    def freeze(self) -> None:
        """About to be killed with its host: take no more work, end its open spans as failed (so a
        trace keeps every parent), leave its requests to fail at their callers. No done record:
        whoever kills the host records that."""
        if not self.running:
            return
        self.running = False
        self.stop_timers()
        self._host.stats.instances_stopped += 1
        if self._admission is not None:
            self._admission.stop(answer=False)
        now = self._host.clock()
        for span in self._serving.values():
            self._tracer.end(span, Status.STOPPED, now)  # type: ignore[union-attr]
        self._serving.clear()
        for _handler, _started, span, *_ in self.pending.values():
            if span is not None:
                self._tracer.end(span, Status.STOPPED, now)  # type: ignore[union-attr]
        if self.is_traffic_source:
            self._count_in_flight()
        self.pending.clear()

    def _count_in_flight(self) -> None:
        """Entry requests still out when the run ends, by the host that holds them, so the
        summary can check them against what those hosts say they still hold."""
        stats = self._host.stats
        stats.requests_in_flight += len(self.pending)
        placement = self._host.placement
        for _handler, _started, _span, _parent, target, *_ in self.pending.values():
            host = placement.get(target, -1)
            stats.hop_in_flight[host] = stats.hop_in_flight.get(host, 0) + 1

    def stop(self, reason: ExitReason) -> None:
        """Stop taking work; requests it was relaying fail upstream instead of hanging."""
        if not self.running:
            return
        self.running = False
        self.stop_timers()
        self.behaviour.stop()
        self._host.stats.instances_stopped += 1
        if self.is_traffic_source:
            self._count_in_flight()
            self.pending.clear()
        else:
            for request_id in list(self.pending):
                self.resolve(request_id, Status.STOPPED, "")
        if self._admission is not None:
            self._admission.stop(answer=True)  # still queued: answered STOPPED, as by its host
        now = self._host.clock()
        for span in self._serving.values():  # requests it will never answer itself
            self._tracer.end(span, Status.STOPPED, now)  # type: ignore[union-attr]
        self._serving.clear()
        self._host.record_done(self.name, reason)
