"""One simulated instance inside a host: the InstanceContext its behaviour talks to.

Requests are matched to responses by a per-instance request id. A pending entry is either a
callback (ctx.call) or the upstream request being relayed (ctx.forward); either way every request
ends exactly once: answered, failed by the runtime, or counted in flight at shutdown.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from nanoservices.geography import ANY
from nanoservices.messages import RESPONSE_FOR, Kind, Message, Status
from nanoservices.naming import PACKAGE, REGION, SERVICE, ZONE
from nanoservices.outputs.records import ExitReason
from nanoservices.packages.base import Behaviour, BehaviourSettings, Peer, ReplyHandler, behaviour_for
from nanoservices.plan import InstanceSpec

if TYPE_CHECKING:
    from nanoservices.runtime.host import HostCore

Pending = tuple[ReplyHandler | Message, float]  # (callback or relayed request, deadline)


class InstanceRuntime:
    def __init__(self, host: HostCore, spec: InstanceSpec, settings: BehaviourSettings, seed: int) -> None:
        self.spec = spec
        self.settings = settings
        self.rng = random.Random(f"{seed}:{spec.name}")
        self.name = spec.name
        self.running = False
        self.pending: dict[int, Pending] = {}
        self._host = host
        self._routes: dict[str, Peer] = {}
        self._next_request = 0
        self._timers: list[asyncio.Task[None]] = []
        behaviour_class = behaviour_for(spec.package)
        self.is_traffic_source = behaviour_class.generates_traffic
        self._zone_local = not behaviour_class.cross_zone
        self.behaviour: Behaviour = behaviour_class(self)

    # --- InstanceContext -------------------------------------------------------------------
    @property
    def routes(self) -> Mapping[str, Peer]:
        return self._routes

    def now(self) -> float:
        return self._host.clock()

    def call(self, target: str, kind: Kind, payload: str, on_reply: ReplyHandler) -> None:
        self._request(target, kind, payload, on_reply)

    def forward(self, request: Message, target: str) -> None:
        self._request(target, request.kind, request.payload, request)

    def reply(self, request: Message, payload: str, status: Status = Status.OK) -> None:
        self._host.send(
            Message(
                kind=RESPONSE_FOR[request.kind],
                sender=self.name,
                target=request.reply_to,
                payload=payload,
                request_id=request.request_id,
                status=status,
                sent=self._host.clock(),
            )
        )

    def send(self, target: str, kind: Kind, payload: str) -> None:
        if self.running:
            self._host.send(
                Message(kind=kind, sender=self.name, target=target, payload=payload, sent=self._host.clock())
            )

    def connect(self, name: str) -> None:
        if name != self.name and name not in self._routes:
            self._add_route(name)
            self.behaviour.on_routes_changed()

    def every(self, interval: float, tick: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().create_task(self._ticker(interval, tick)))

    # --- runtime side ----------------------------------------------------------------------
    def _request(self, target: str, kind: Kind, payload: str, handler: ReplyHandler | Message) -> None:
        host = self._host
        self._next_request += 1
        request_id = self._next_request
        now = host.clock()
        if self.is_traffic_source:
            host.stats.requests_issued += 1
        if not self.running:
            self.pending[request_id] = (handler, now)
            self.resolve(request_id, Status.STOPPED, "")
            return
        deadline = now + host.request_timeout
        self.pending[request_id] = (handler, deadline)
        host.expire_at(deadline, self, request_id)
        host.send(
            Message(
                kind=kind,
                sender=self.name,
                target=target,
                payload=payload,
                request_id=request_id,
                reply_to=self.name,
                sent=now,
            )
        )

    def on_response(self, msg: Message) -> None:
        entry = self.pending.pop(msg.request_id, None)
        if entry is None:
            self._host.stats.late_responses += 1
            return
        if self.is_traffic_source:
            if msg.status is Status.OK:
                self._host.stats.requests_completed += 1
            else:
                self._host.stats.failed(msg.status)
        handler = entry[0]
        if type(handler) is Message:
            self.reply(handler, msg.payload, msg.status)
        else:
            handler(msg)  # type: ignore[operator]

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

    def learn(self, name: str, online: bool) -> bool:
        """Apply one discovery change; True when the routes changed."""
        if name == self.name:
            return False
        if online:
            if name in self._routes:
                return False
            if self._zone_local:
                zone = name.split(".", 3)[ZONE]
                if zone == ANY or zone != self.spec.zone:
                    return False
            self._add_route(name)
            return True
        if self._routes.pop(name, None) is None:
            return False
        self._host.record_forget(self.name, name)
        return True

    def _add_route(self, name: str) -> None:
        parts = name.split(".")
        self._routes[name] = Peer(name, parts[SERVICE], parts[PACKAGE], parts[REGION], parts[ZONE])
        self._host.record_edge(self.name, name)

    async def _ticker(self, interval: float, tick: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while self.running:
            next_at += interval
            delay = next_at - loop.time()
            if delay < 0:  # fell behind: skip ahead rather than burst
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)
            if self.running:
                tick()

    def start(self) -> None:
        self.running = True
        self._host.stats.instances_started += 1
        self.behaviour.start()

    def stop_timers(self) -> None:
        for task in self._timers:
            task.cancel()
        self._timers.clear()

    def stop(self, reason: ExitReason) -> None:
        """Stop taking work; requests it was relaying fail upstream instead of hanging."""
        if not self.running:
            return
        self.running = False
        self.stop_timers()
        self.behaviour.stop()
        self._host.stats.instances_stopped += 1
        if self.is_traffic_source:
            self._host.stats.requests_in_flight += len(self.pending)
            self.pending.clear()
        else:
            for request_id in list(self.pending):
                self.resolve(request_id, Status.STOPPED, "")
        self._host.record_done(self.name, reason)
