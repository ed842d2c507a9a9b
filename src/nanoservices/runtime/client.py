"""An instance's client side: its requests out and their answers back, as Ribbon and Hystrix
handle them (runtime/resilience.py): a request whose server is gone is retried on the next server
(a new hop, the same request for its caller), servers that keep failing are blacked out, a
dependency whose breaker is open fails fast; and the routes discovery gives it. A mixin of
InstanceRuntime (runtime/instance.py), which holds the server side; it uses only the instance
attributes declared below.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from nanoservices.geography import ANY
from nanoservices.messages import Kind, Message, Status
from nanoservices.naming import PACKAGE, REGION, SERVICE, ZONE
from nanoservices.packages.base import Peer, ReplyHandler
from nanoservices.plan import InstanceSpec
from nanoservices.runtime.resilience import CLOSED, Blackouts, Breaker, choose

if TYPE_CHECKING:
    from nanoservices.packages.base import Behaviour
    from nanoservices.runtime.host import HostCore
    from nanoservices.runtime.spans import OpenSpan as Span
    from nanoservices.runtime.spans import SpanHooks


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


class ClientSide:
    """Requests, retries, breakers and routes of one instance (InstanceRuntime's client half)."""

    # InstanceRuntime's attributes this half uses
    spec: InstanceSpec
    name: str
    running: bool
    pending: dict[int, Pending]
    is_traffic_source: bool
    behaviour: Behaviour
    rng: random.Random
    reply: Callable[[Message, str, Status], None]
    _host: HostCore
    _routes: dict[str, Peer]
    _groups: dict[tuple[str, str], tuple[str, ...]]
    _deps: dict[str, Dependency]
    _by_service: dict[str, Dependency]
    _blackouts: Blackouts
    _next_request: int
    _zone_local: bool
    _tracer: SpanHooks | None
    _current: Span | None

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
            if host.try_timeout and len(tried) < host.retries and self._alternative(dep):
                timeout = min(timeout, host.try_timeout)  # Ribbon's ReadTimeout: room for the retry
        host.expire_at(timeout, now + timeout, self, request_id)
        host.send(msg)

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

    def _alternative(self, dep: Dependency) -> bool:
        """Whether the dependency has another server a retry could go to (--try-timeout)."""
        servers = dep.servers
        if servers is None:
            servers = dep.servers = tuple(p for p in self._routes.values() if p.service == dep.service)
        return len(servers) > 1

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
