"""One simulated instance inside a host: the InstanceContext its behaviour talks to.

Requests are matched to responses by a per-instance request id. A pending entry is either a
callback (ctx.call) or the upstream request being relayed (ctx.forward); either way every request
ends exactly once: answered, failed by the runtime, or counted in flight at shutdown.

The client side copes as Ribbon and Hystrix do (runtime/resilience.py): a request whose server
is gone is retried on the next server (a new hop, the same request for its caller), servers that
keep failing are blacked out, and a dependency whose breaker is open fails fast.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nanoservices.geography import ANY
from nanoservices.messages import RESPONSE_FOR, Kind, Message, Status
from nanoservices.naming import PACKAGE, REGION, SERVICE, ZONE
from nanoservices.outputs.histogram import bucket_of
from nanoservices.outputs.records import ExitReason
from nanoservices.packages.base import Behaviour, BehaviourSettings, Peer, ReplyHandler, behaviour_for
from nanoservices.plan import InstanceSpec
from nanoservices.runtime.admission import Admission
from nanoservices.runtime.resilience import CLOSED, Blackouts, Breaker, choose
from nanoservices.runtime.ticker import Ticker

if TYPE_CHECKING:
    from nanoservices.load import RateSchedule
    from nanoservices.runtime import spans
    from nanoservices.runtime.host import HostCore
    from nanoservices.runtime.spans import OpenSpan as Span
    from nanoservices.runtime.spans import SpanHooks
    from nanoservices.scenario.actions import VersionBehaviour


# (callback or relayed request, when the first try was sent, CLIENT span or None, SERVER span it was
# sent under or None, target instance, kind, payload, servers tried before this one)
Pending = tuple[ReplyHandler | Message, float, "Span | None", "Span | None", str, Kind, str, tuple[str, ...]]
NOT_TRIED: tuple[str, ...] = ()
# The server could not be reached (when the caller's own runtime says so): Ribbon retries these on
# the next server, and counts them towards the server's blackout.
RETRYABLE = frozenset({Status.DEAD_INSTANCE, Status.STOPPED})
CONNECTION_FAILURES = frozenset({Status.DEAD_INSTANCE, Status.STOPPED, Status.TIMEOUT})
NOT_THE_DEPENDENCYS = frozenset({Status.SHORT_CIRCUITED, Status.SHUTDOWN})  # not counted by its breaker


class Dependency:
    """What a caller keeps per service it calls: its breaker, its timeout, its servers."""

    __slots__ = ("breaker", "servers", "service", "timeout")

    def __init__(self, service: str, timeout: float) -> None:
        self.service = service
        self.timeout = timeout
        self.breaker = Breaker()
        self.servers: tuple[Peer, ...] | None = None  # this caller's routes to it, found when needed


def _load_spans() -> None:
    """Untraced hosts never import OpenTelemetry: one module less in every actor's start-up."""
    global spans
    from nanoservices.runtime import spans


class InstanceRuntime:
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
        if errors is not None and errors.fails(rng) and status is Status.OK:
            status, payload = Status.ERROR, ""
        done = self._host.clock() + delay
        self._count(done, done - request.received, status)
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

    def set_profile(self, profile: VersionBehaviour | None) -> None:
        """How this instance serves the requests that arrive from now on (a deploy's version, a
        latency or error incident); None: answer at once, never fail by itself. Requests already
        received keep the profile they arrived under."""
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
    def _request(
        self, target: str, kind: Kind, payload: str, handler: ReplyHandler | Message, parent: Span | None
    ) -> None:
        host = self._host
        now = host.clock()
        if self.is_traffic_source:
            host.stats.requests_issued += 1
        if self._blackouts.until and self._blackouts.out(target, now):
            target = self._next_server(target, NOT_TRIED, now) or target
        self._send_request(target, kind, payload, handler, parent, now, NOT_TRIED, now)

    def _send_request(
        self,
        target: str,
        kind: Kind,
        payload: str,
        handler: ReplyHandler | Message,
        parent: Span | None,
        started: float,
        tried: tuple[str, ...],
        now: float,
    ) -> None:
        """One try of a request: the first, or a retry on the next server (its own hop and span)."""
        host = self._host
        self._next_request += 1
        request_id = self._next_request
        msg = Message(
            kind=kind,
            sender=self.name,
            target=target,
            payload=payload,
            request_id=request_id,
            reply_to=self.name,
        )
        span = None
        if self._tracer is not None:
            span = self._tracer.client(parent, msg, now, bool(tried))  # also sets msg.trace
        self.pending[request_id] = (handler, started, span, parent, target, kind, payload, tried)
        if not self.running:
            self.resolve(request_id, Status.STOPPED, "")
            return
        dep = self._deps.get(target)
        timeout = host.request_timeout
        if dep is not None:
            breaker = dep.breaker
            if breaker.state is not CLOSED and not tried:  # a retry is the same request, let through
                state = breaker.state
                allowed = breaker.allow(now)
                if breaker.state is not state:
                    self._breaker_changed(dep, state, breaker.state)
                if not allowed:
                    self.resolve(request_id, Status.SHORT_CIRCUITED, "")
                    return
            timeout = dep.timeout
        host.expire_at(timeout, now + timeout, self, request_id)
        host.send(msg)

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

    def on_response(self, msg: Message) -> None:
        entry = self.pending.pop(msg.request_id, None)
        if entry is None:
            self._host.stats.late_responses += 1
            return
        handler, started, span, parent, target, _kind, _payload, _tried = entry
        status = msg.status
        dep = self._deps.get(target)
        if dep is not None:
            if status:
                if self._failed(dep, target, status, span, entry, not msg.sender):
                    return
            else:
                breaker = dep.breaker
                if breaker.state is CLOSED:
                    breaker.requests += 1
                else:
                    self._breaker_changed(dep, breaker.state, breaker.ok())
                if self._blackouts.failing:
                    self._blackouts.success(target)
        callee = dep.service if dep is not None else target.rsplit(".", 2)[-2]  # per-edge histogram
        self._host.stats.edge(self.spec.service, callee, status, self._host.clock() - started)
        if self.is_traffic_source:
            stats = self._host.stats
            now = self._host.clock()
            elapsed = now - started
            if status is Status.OK:
                stats.requests_completed += 1
                stats.latency(elapsed)
            else:
                stats.failed(status)
            stats.entry(int(now - self._host.run_start), status, elapsed)
        if span is not None:
            self._tracer.end(span, status, self._host.clock())  # type: ignore[union-attr]
        if type(handler) is Message:
            self.reply(handler, msg.payload, status)
            return
        previous, self._current = self._current, parent
        try:
            handler(msg)  # type: ignore[operator]
        finally:
            self._current = previous

    def _failed(
        self, dep: Dependency, target: str, status: Status, span: Span | None, entry: Pending, local: bool
    ) -> bool:
        """A try failed: count it against the dependency's breaker and the server; retry it on the
        next server when it could not reach its own. True when it was retried. Only a failure this
        host's runtime made (`local`: undeliverable, timed out) is the server's connection failing;
        the same status relayed by the server from further down is an error answer, as a 503 is."""
        now = self._host.clock()
        if local and status in CONNECTION_FAILURES:
            if self._blackouts.failure(target, now):
                self._host.stats.blackouts += 1
            if self._retry(target, status, span, entry, now):
                return True  # the breaker sees the request's outcome, not each try's
        if status not in NOT_THE_DEPENDENCYS:
            breaker = dep.breaker
            self._breaker_changed(dep, breaker.state, breaker.failed(now))
        return False

    def _retry(self, target: str, status: Status, span: Span | None, entry: Pending, now: float) -> bool:
        tried = entry[7]
        if status not in RETRYABLE and not (
            status is Status.TIMEOUT and self._host.retry_timeouts and entry[5] is Kind.GET_REQUEST
        ):
            return False  # a timed-out GET is retried only when asked: Ribbon's OkToRetryOnAllOperations
        if len(tried) >= self._host.retries or not self.running:
            return False
        tried = (*tried, target)
        server = self._next_server(target, tried, now)
        if server is None:
            return False
        if span is not None:
            self._tracer.end(span, status, now)  # type: ignore[union-attr]
        self._host.stats.retries += 1
        handler, started, _span, parent, _target, kind, payload, _tried = entry
        self._send_request(server, kind, payload, handler, parent, started, tried, now)
        return True

    def _next_server(self, target: str, exclude: tuple[str, ...], now: float) -> str | None:
        """Ribbon's choice of another server of the target's service; None without one."""
        dep = self._deps.get(target)
        if dep is None:
            return None
        servers = dep.servers
        if servers is None:
            servers = dep.servers = tuple(p for p in self._routes.values() if p.service == dep.service)
        return choose(servers, exclude or (target,), self.spec.zone, self._blackouts, now, self.rng)

    def _breaker_changed(self, dep: Dependency, old: str, state: str | None) -> None:
        """Count a transition (`state` None: none happened) and keep it for events.jsonl."""
        if state is not None:
            host = self._host
            changes = host.stats.breaker_changes
            changes[state] = changes.get(state, 0) + 1
            spec = self.spec
            at = host.clock() - host.run_start
            host.breakers.add(at, spec.service, spec.version, self.name, dep.service, old, state)

    def roll_breakers(self, now: float) -> None:
        """Slide every dependency's breaker window (the host calls it once a bucket)."""
        for dep in self._by_service.values():
            breaker = dep.breaker
            old = breaker.state
            self._breaker_changed(dep, old, breaker.roll(now))

    def resolve(self, request_id: int, status: Status, payload: str) -> None:
        """End a pending request with a response made by the runtime (failures, timeouts)."""
        if request_id in self.pending:
            self.on_response(
                Message(
                    kind=Kind.GET_RESPONSE,
                    sender="",
                    target=self.name,
                    payload=payload,
                    request_id=request_id,
                    status=status,
                )
            )

    def learn(self, name: str, routable: bool, version: str = "v1") -> bool:
        """Apply one discovery change (routable: registered and UP); True when the routes changed."""
        if name == self.name:
            return False
        if routable:
            if name in self._routes:
                return False
            if self._zone_local:
                zone = name.split(".", 3)[ZONE]
                if zone == ANY or zone != self.spec.zone:
                    return False
            self._add_route(name, version)
            return True
        if self._routes.pop(name, None) is None:
            return False
        self._groups.clear()
        dep = self._deps.pop(name, None)
        if dep is not None:
            dep.servers = None
        if self._blackouts.failing:
            self._blackouts.success(name)  # gone from discovery: forget its failures too
        self._host.record_forget(self.name, name)
        return True

    def _add_route(self, name: str, version: str = "v1") -> None:
        parts = name.split(".")
        service = parts[SERVICE]
        self._routes[name] = Peer(name, service, parts[PACKAGE], parts[REGION], parts[ZONE], version)
        self._groups.clear()
        dep = self._by_service.get(service)
        if dep is None:
            timeout = self._host.timeouts.get(service, self._host.request_timeout)
            dep = self._by_service[service] = Dependency(service, timeout)
        dep.servers = None
        self._deps[name] = dep
        self._host.record_edge(self.name, name)

    def _balance(self, target: str) -> str:
        """A weighted load balancer in front of a service's server groups: while a deploy splits
        the service's traffic between versions (a canary's share), pick the version by its share,
        then an instance of it among this caller's routes. Behaviours need not know."""
        peer = self._routes.get(target)
        if peer is None:
            return target
        shares = self._host.shares.get(peer.service)
        if not shares:
            return target
        point = self.rng.random()
        version = peer.version
        for candidate, share in shares.items():
            version = candidate
            point -= share
            if point < 0:
                break
        if version == peer.version:
            return target
        key = (peer.service, version)
        group = self._groups.get(key)
        if group is None:
            group = tuple(sorted(n for n, p in self._routes.items() if (p.service, p.version) == key))
            self._groups[key] = group
        return group[self.rng.randrange(len(group))] if group else target

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
