"""A host: one process running 1..K simulated instances of one zone.

Messages between co-located instances are handed over in-process; messages to other hosts are
batched per destination host and sent once per event-loop turn. This module knows nothing of Ray:
`Peers` is the way out (runtime/ray_host.py gives the Ray version), so the same host logic runs
under Ray and inside a single test process.

This module is the message path (send, batch, deliver, dispatch, time out) and the lifecycle; a
host's discovery (register, renew, poll) is runtime/discovery.py, its answers to control calls
(counts, the judge's window, incidents) runtime/host_control.py: mixins of HostCore.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nanoservices import defaults
from nanoservices.messages import (
    REQUEST_KINDS,
    RESPONSE_FOR,
    RESPONSE_KINDS,
    Message,
    Status,
    decode_batch,
    encode_batch,
)
from nanoservices.outputs.records import (
    DoneRecord,
    EdgeRecord,
    ExitReason,
    ForgetRecord,
    GraphRecord,
)
from nanoservices.packages.base import BehaviourSettings
from nanoservices.plan import InstanceSpec, RegistrySpec
from nanoservices.registry import Change, Entry, Shares
from nanoservices.runtime.affected import Affected
from nanoservices.runtime.breaker_events import BreakerLog
from nanoservices.runtime.bulk import paused_gc
from nanoservices.runtime.delays import RESOLUTION, Delays
from nanoservices.runtime.discovery import (  # noqa: F401 (imported from here)
    WATCH_WAIT,
    HostDiscovery,
    PollAnswer,
    registries_in_scope,
)
from nanoservices.runtime.host_control import HostControl
from nanoservices.runtime.instance import InstanceRuntime
from nanoservices.runtime.lag import LagProbe, probe_loop
from nanoservices.runtime.resilience import BUCKETS, WINDOW
from nanoservices.runtime.stats import HostStats

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer


# Ray calls in flight to one destination host. Messages for it wait in its outbox meanwhile and go
# together in the next call: under light load every message leaves at once, under heavy load
# batches grow to whatever the Ray call rate (~2,500 calls/s here) leaves room for. Measured on
# netflixoss packed: 1 call in flight gave 1,314 requests/s, 2 gave 1,099 (smaller batches).
CALLS_PER_DESTINATION = 1
# Over the socket data plane a batch in flight costs an ack, not a Ray call: several may be out at
# once, so a busy destination does not hold back every message behind one round trip.
FRAMES_PER_DESTINATION = 1
# Most messages a host hands over in one go, to one destination host or to its own instances: an
# overloaded fsm of 100,000 pirates grew single batches to 200,000 messages, each seconds of one
# callback during which no timer, Ray call (stop_traffic) or other connection got a turn.
MAX_BATCH = 2_000


CONTROL_PLANE = -1  # the source index of messages the supervisor sends (fsm's opening moves)


class HostDied(Exception):
    """A destination host cannot be reached any more."""


class HostStopped(HostDied):
    """The destination has shut down and counted its last message: later ones are lost, counted."""


class HostTracing(Protocol):
    """The host process's OpenTelemetry side (nanoservices.tracing implements it)."""

    def tracer_for(self, spec: InstanceSpec) -> Tracer: ...


class Peers(Protocol):
    """What a host needs from the rest of the run."""

    def deliver(self, source: int, host: int, data: bytes) -> Awaitable[None]: ...
    def register(self, registry: int, entries: list[Entry]) -> Awaitable[None]: ...
    def deregister(self, registry: int, names: list[str]) -> Awaitable[None]: ...
    def renew(self, registry: int, names: list[str], lease: float) -> Awaitable[object]: ...
    def poll(
        self, registry: int, services: list[str], since: int, wait: float = 0.0
    ) -> Awaitable[tuple[int, list[Change], dict[str, Shares]]]: ...
    def record(self, records: list[GraphRecord]) -> Awaitable[None]: ...


@dataclass(frozen=True)
class HostSetup:
    """Everything a host is created with; the same value builds a Ray host or an in-process one."""

    index: int
    specs: Sequence[InstanceSpec]
    registries: Sequence[RegistrySpec]
    settings: BehaviourSettings
    seed: int
    request_timeout: float
    max_in_flight: int = defaults.MAX_IN_FLIGHT  # per traffic source; 0: no limit
    batches_in_flight: int = CALLS_PER_DESTINATION  # per destination host
    addresses: dict[str, str] | None = None  # simulated IPs by instance name, for span attributes
    lease_renewal: float = defaults.LEASE_RENEWAL  # Eureka heartbeat period (Eureka's 30 s, scaled)
    retries: int = defaults.RETRIES  # Ribbon's MaxAutoRetriesNextServer
    retry_timeouts: bool = defaults.RETRY_TIMEOUTS  # also retry a timed-out GET on the next server
    try_timeout: float = defaults.TRY_TIMEOUT  # a retryable try's own timeout (0: the whole one)
    timeouts: tuple[tuple[str, float], ...] = ()  # (service, seconds): its callers' timeout for it


class HostCore(HostDiscovery, HostControl):
    def __init__(
        self,
        setup: HostSetup,
        tracing: HostTracing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = setup.index
        self._seed = setup.seed
        self.max_in_flight = setup.max_in_flight
        self.batches_in_flight = setup.batches_in_flight
        self.tracing = tracing
        self._addresses = setup.addresses or {}
        self.stats = HostStats()
        self.breakers = BreakerLog()  # circuit breaker transitions until the supervisor has them
        self.clock = clock
        self.run_start = clock()  # when the traffic started: second 0 of the per-second series
        self.delays = Delays()  # replies waiting out their simulated service time
        self.lag = LagProbe()  # its event loop's lateness per second, once its instances start
        self.request_timeout = setup.request_timeout
        self.timeouts = dict(setup.timeouts)  # per dependency; the rest use request_timeout
        self.retries = setup.retries
        self.try_timeout = setup.try_timeout
        self.retry_timeouts = setup.retry_timeouts or setup.try_timeout > 0  # a try's timeout is retried
        self.registries = setup.registries
        with paused_gc():  # up to 50,000 pirates per host: no collection every 700 of them
            self.instances = {
                spec.name: InstanceRuntime(self, spec, setup.settings, setup.seed) for spec in setup.specs
            }
        self.placement: dict[str, int] = {}
        self.shares: dict[str, Shares] = {}  # service -> version -> traffic share, while a deploy splits it
        self.peers: Peers | None = None
        self._local: deque[Message] = deque()
        self._outboxes: dict[int, list[Message]] = {}
        self._pump_scheduled = False
        self._dead_hosts: set[int] = set()
        self._blocked: frozenset[int] = frozenset()  # hosts a network partition cuts this one off from
        self._partitioned: Affected | None = None  # requests the partition dropped (runtime/affected.py)
        self._lost: dict[int | str, Affected] = {}  # per gone target (host, instance): requests it failed
        # One FIFO of deadlines per timeout: each is in order as it is appended to.
        self._deadlines: dict[float, deque[tuple[float, InstanceRuntime, int]]] = {}
        self._next_roll = 0.0  # when the breakers' windows slide next
        self._records: list[GraphRecord] = []
        self._in_transit: set[asyncio.Future[None]] = set()
        self._calls_out: dict[int, int] = {}  # destination host -> Ray calls not yet completed
        self._background: list[asyncio.Task[None]] = []
        self.frozen = False  # about to be killed by chaos: takes no more messages
        self.closed = False  # stopped and counted: takes no more messages
        self._watch = self._watch_list()
        self._since = dict.fromkeys(self._watch, 0)
        self.lease_renewal = setup.lease_renewal
        self._leases = self._lease_list()
        self._renewing = False
        self._started = False  # start_instances ran: from then on only running instances renew

    def ip_of(self, name: str) -> str:
        return self._addresses.get(name, "")

    def wire(self, placement: dict[str, int], peers: Peers) -> None:
        self.placement = placement
        self.peers = peers

    # --- sending: the hot path ----------------------------------------------------------------
    def send(self, msg: Message) -> None:
        target_host = self.placement.get(msg.target)
        if target_host == self.index:
            self._local.append(msg)
            self.stats.local_sent += 1
        elif target_host is None or target_host in self._dead_hosts:
            self._undeliverable(msg, Status.DEAD_INSTANCE)
            return
        else:
            if msg.kind in RESPONSE_KINDS:
                answered = self.stats.hop_answered
                answered[target_host] = answered.get(target_host, 0) + 1
            box = self._outboxes.get(target_host)
            if box is None:
                self._outboxes[target_host] = [msg]
            else:
                box.append(msg)
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        if self.frozen:  # its counts are taken: what it has not sent dies with it, unsent
            self._local.clear()
            self._outboxes.clear()
            return
        local = self._local
        queued = min(len(local), MAX_BATCH)
        self.stats.local_received += queued
        for _ in range(queued):  # what is queued now; new local messages wait a turn
            self.dispatch(local.popleft())
        if local and not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)
        if self._outboxes:
            calls_out = self._calls_out
            for target_host in list(self._outboxes):
                if calls_out.get(target_host, 0) < self.batches_in_flight:
                    self._ship(target_host, self._next_batch(target_host))

    def _next_batch(self, target_host: int) -> list[Message]:
        """The outbox for target_host, or its first MAX_BATCH messages (the rest wait their turn)."""
        box = self._outboxes.pop(target_host)
        if len(box) > MAX_BATCH:
            self._outboxes[target_host] = box[MAX_BATCH:]
            del box[MAX_BATCH:]
        return box

    def _ship(self, target_host: int, batch: list[Message]) -> None:
        assert self.peers is not None
        stats = self.stats
        stats.batches_sent += 1
        stats.hop_sent[target_host] = stats.hop_sent.get(target_host, 0) + len(batch)
        if self._blocked and target_host in self._blocked:
            # Partitioned: the batch is sent and lost on the way, counted by this end; its
            # requests time out at their callers, as behind a real partition.
            stats.lost(target_host, "partition", len(batch))
            if self._partitioned is not None:
                self._partition_dropped(batch)
            return
        self._calls_out[target_host] = self._calls_out.get(target_host, 0) + 1
        future = asyncio.ensure_future(self.peers.deliver(self.index, target_host, encode_batch(batch)))
        self._in_transit.add(future)
        future.add_done_callback(lambda f: self._shipped(f, target_host, batch))

    def _partition_dropped(self, batch: list[Message]) -> None:
        affected = self._partitioned
        assert affected is not None
        now = self.clock()
        for msg in batch:
            if msg.kind in REQUEST_KINDS:
                affected.add(msg.trace, now)

    def _lost_request(self, target: int | str, msg: Message) -> None:
        """A request that failed because its target (host index or instance name) is gone: sampled by
        target, so a kill's effects can be told at the run's end (runtime/affected.py)."""
        affected = self._lost.get(target)
        if affected is None:
            affected = self._lost[target] = Affected()
        affected.add(msg.trace, self.clock())

    def _shipped(self, future: asyncio.Future[None], target_host: int, batch: list[Message]) -> None:
        self._in_transit.discard(future)
        self._calls_out[target_host] -= 1
        error = None if future.cancelled() else future.exception()
        if error is None:
            if target_host in self._outboxes and not self.frozen:
                self._ship(target_host, self._next_batch(target_host))
            return
        reason = "stopped" if isinstance(error, HostStopped) else "dead_instance"
        self.stats.lost(target_host, reason, len(batch))
        self._dead_hosts.add(target_host)
        for msg in batch + self._outboxes.pop(target_host, []):
            self._undeliverable(msg, Status.DEAD_INSTANCE)

    def _undeliverable(self, msg: Message, status: Status) -> None:
        """A request that cannot reach its target fails back to its sender; the rest is counted."""
        if msg.is_request:
            sender = self.instances.get(msg.reply_to)
            if sender is not None:
                self._lost_request(self.placement.get(msg.target, -1), msg)
                asyncio.get_running_loop().call_soon(sender.resolve, msg.request_id, status, "")
                return
        self.stats.one_way_dropped += 1

    # --- receiving ----------------------------------------------------------------------------
    def deliver(self, source: int, data: bytes) -> None:
        """A batch from another host. A host being killed or already counted out refuses it, so
        the sender counts the batch as lost instead of it vanishing between the two counts."""
        if self.frozen:
            raise HostDied(f"host {self.index} is being killed")
        if self.closed:
            raise HostStopped(f"host {self.index} has stopped")
        batch = decode_batch(data)
        stats = self.stats
        stats.messages_remote += len(batch)
        stats.hop_received[source] = stats.hop_received.get(source, 0) + len(batch)
        requests = 0
        for msg in batch:
            if msg.kind in REQUEST_KINDS:
                requests += 1
            self.dispatch(msg)
        if requests:
            stats.hop_requests[source] = stats.hop_requests.get(source, 0) + requests

    def dispatch(self, msg: Message) -> None:
        if self.frozen:
            return  # being killed: as silent as the dead host it is about to be
        self.stats.messages_delivered += 1
        instance = self.instances.get(msg.target)
        if msg.kind in RESPONSE_KINDS:  # msg.is_response, without a property call per message
            if instance is not None:
                instance.on_response(msg)
            return
        if instance is None or not instance.running:
            if msg.is_request:
                self._lost_request(msg.target, msg)
                self.send(
                    Message(
                        kind=RESPONSE_FOR[msg.kind],
                        sender=msg.target,
                        target=msg.reply_to,
                        request_id=msg.request_id,
                        status=Status.STOPPED,
                    )
                )
            else:
                self.stats.one_way_dropped += 1
            return
        instance.receive(msg)

    # --- timeouts -----------------------------------------------------------------------------
    def expire_at(self, timeout: float, deadline: float, instance: InstanceRuntime, request_id: int) -> None:
        fifo = self._deadlines.get(timeout)
        if fifo is None:
            fifo = self._deadlines[timeout] = deque()
        fifo.append((deadline, instance, request_id))

    async def _expire_loop(self) -> None:
        waits = [
            self.request_timeout,
            *self.timeouts.values(),
            *([self.try_timeout] if self.try_timeout else []),
        ]
        interval = max(min(waits) / 4, 0.01)
        while True:
            await asyncio.sleep(interval)
            self.expire_due(self.clock())

    def expire_due(self, now: float) -> None:
        """Time out what is due, earliest deadline first across the FIFOs; slide the breakers."""
        fifos = list(self._deadlines.values())
        while True:
            first = None
            for fifo in fifos:
                if fifo and fifo[0][0] <= now and (first is None or fifo[0][0] < first[0][0]):
                    first = fifo
            if first is None:
                break
            _, instance, request_id = first.popleft()
            instance.resolve(request_id, Status.TIMEOUT, "")
            if len(self._deadlines) != len(fifos):  # a retry brought a new timeout
                fifos = list(self._deadlines.values())
        if now >= self._next_roll:
            self._next_roll = now + WINDOW / BUCKETS
            for instance in self.instances.values():
                instance.roll_breakers(now)

    # --- graph records ------------------------------------------------------------------------
    def record_edge(self, source: str, target: str) -> None:
        self._records.append(EdgeRecord(source, target, self.clock()))

    def record_forget(self, source: str, target: str) -> None:
        self._records.append(ForgetRecord(source, target, self.clock()))

    def record_done(self, name: str, reason: ExitReason) -> None:
        self._records.append(DoneRecord(name, reason, self.clock()))

    # --- lifecycle ----------------------------------------------------------------------------
    def busy(self) -> bool:
        """Messages queued, scheduled, in transit or waiting out a service time (used to let an
        in-process run settle)."""
        return self.moving() or bool(self.delays.pending)

    def moving(self) -> bool:
        """Messages queued, scheduled or in transit: the next loop turn has work."""
        return bool(self._local or self._outboxes or self._in_transit or self._pump_scheduled)

    def start_instances(
        self, poll_interval: float, background: bool = True, started_at: float | None = None
    ) -> None:
        """Start every instance; `started_at` (this host's clock) is the run's second 0, the same on
        every host, so their per-second series line up; by default now."""
        self._started = True
        self.run_start = self.clock() if started_at is None else started_at
        for instance in self.instances.values():
            instance.start()
        for instance in self.instances.values():
            if instance.routes:
                instance.behaviour.on_routes_changed()
        if not background:
            return
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(self._expire_loop()))
        # how late this host's timers fire, per second of the traffic (runtime/lag.py)
        self._background.append(loop.create_task(probe_loop(self.lag, lambda: self.clock() - self.run_start)))
        if self._watch:
            self._background.append(loop.create_task(self._poll_loop(poll_interval)))
        self.start_renewals()

    def stop_traffic(self) -> None:
        for instance in self.instances.values():
            if instance.is_traffic_source:
                instance.stop_timers()

    def traffic_pending(self) -> int:
        return sum(len(i.pending) for i in self.instances.values() if i.is_traffic_source)

    async def stop_instance(self, name: str, reason: ExitReason) -> bool:
        """Stop one instance (chaos in a shared host): deregister it, record why."""
        instance = self.instances.get(name)
        if instance is None or not instance.running:
            return False
        instance.stop(reason)
        assert self.peers is not None
        await asyncio.gather(
            *(self.peers.deregister(r, [name]) for r in registries_in_scope(instance.spec, self.registries)),
            return_exceptions=True,  # a registry gone with its zone has nothing to deregister from
        )
        await self.flush_records()
        return True

    def freeze(self) -> dict[str, object]:
        """Chaos is about to kill this host: stop everything without a word, hand back the counts."""
        self.frozen = True
        self._drop_local("dead_instance")
        self._outboxes.clear()
        self.delays.clear()
        for task in self._background:
            task.cancel()
        self._background.clear()
        for instance in self.instances.values():
            instance.freeze()
        return self.final_counts()

    async def stop_all(self) -> dict[str, object]:
        """Stop every instance, let what they said last reach the other hosts (bounded), count."""
        for task in self._background:
            task.cancel()
        self._background.clear()
        with paused_gc():  # 50,000 pirates stopping make 50,000 done records at once
            for instance in reversed(list(self.instances.values())):
                instance.stop(ExitReason.NORMAL)
            await self.flush_records()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        while self.busy() and loop.time() < deadline:
            if self._in_transit:
                await asyncio.wait(list(self._in_transit), timeout=deadline - loop.time())
            else:  # queued messages leave on the next pump; delayed replies when their slot ends
                await asyncio.sleep(0 if self.moving() else RESOLUTION)
        self.delays.clear()  # replies still waiting past the bound stay unanswered (held), not sent late
        self._drop_local("stopped")  # still queued past the bound: never handed over, counted so
        self.closed = True
        return self.final_counts()

    def _drop_local(self, reason: str) -> None:
        """Messages queued for this host's own instances that will never be handed over: lost on
        the host's self-hop, by `reason`, so its two counts still agree."""
        if self._local:
            self.stats.lost(self.index, reason, len(self._local))
            self._local.clear()
