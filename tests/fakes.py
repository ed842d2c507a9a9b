"""A deterministic, synchronous, in-memory network of behaviours: the InstanceContext for tests.

Messages wait in one FIFO queue and are delivered by `run_until_idle()`; timers fire only when a
test calls `tick()`. The network checks the contract behaviours must keep: each request an
instance receives is answered (or forwarded) exactly once, and each call gets exactly one
outcome. No Ray, no threads, no sleeps.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from nanoservices.architecture import load_architecture
from nanoservices.messages import RESPONSE_FOR, Kind, Message, Status
from nanoservices.naming import PACKAGE, REGION, SERVICE, ZONE, full_name, instance_label, node_name
from nanoservices.packages.base import Behaviour, BehaviourSettings, Peer, ReplyHandler, behaviour_for
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand

B = TypeVar("B", bound=Behaviour)
ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


def make_spec(
    service: str,
    package: str,
    index: int = 0,
    *,
    region: str = "us-east-1",
    zone: str = "zoneA",
    dependencies: tuple[str, ...] = (),
    ring: tuple[tuple[str, int], ...] = (),
    arch: str = "test",
) -> InstanceSpec:
    """A hand-made instance spec, named as the planner would name it."""
    label = instance_label(service, index)
    return InstanceSpec(
        name=full_name(arch, region, zone, label, service, package),
        node=node_name(arch, region, zone, label),
        service=service,
        package=package,
        region=region,
        zone=zone,
        ip="10.0.0.1",
        dependencies=dependencies,
        cross_region=False,
        ring=ring,
    )


def peer_of(spec: InstanceSpec) -> Peer:
    return Peer(spec.name, spec.service, spec.package, spec.region, spec.zone)


def plan_for(arch: str, regions: int = 1, scale: int = 100) -> DeploymentPlan:
    return expand(load_architecture(ARCHITECTURES / f"{arch}_arch.json"), scale=scale, regions=regions)


class FakeContext:
    """One instance's view of the FakeNetwork."""

    def __init__(
        self, network: FakeNetwork, spec: InstanceSpec, settings: BehaviourSettings, seed: str
    ) -> None:
        self.network = network
        self.spec = spec
        self.settings = settings
        self.rng = random.Random(f"{seed}:{spec.name}")
        self.route_table: dict[str, Peer] = {}

    @property
    def routes(self) -> Mapping[str, Peer]:
        return self.route_table

    def now(self) -> float:
        return self.network.clock

    def call(self, target: str, kind: Kind, payload: str, on_reply: ReplyHandler) -> None:
        self.network.call(self.spec.name, target, kind, payload, on_reply)

    def forward(self, request: Message, target: str) -> None:
        self.network.forward(self.spec.name, request, target)

    def reply(self, request: Message, payload: str, status: Status = Status.OK) -> None:
        self.network.reply(self.spec.name, request, payload, status)

    def send(self, target: str, kind: Kind, payload: str) -> None:
        self.network.post(Message(kind=kind, sender=self.spec.name, target=target, payload=payload))

    def connect(self, name: str) -> None:
        """As the runtime does: the name becomes a route (and an edge) unless already known."""
        if name == self.spec.name or name in self.route_table:
            return
        parts = name.split(".")
        self.route_table[name] = Peer(name, parts[SERVICE], parts[PACKAGE], parts[REGION], parts[ZONE])
        self.network.edges.append((self.spec.name, name))
        self.network.behaviours[self.spec.name].on_routes_changed()

    def every(self, interval: float, tick: Callable[[], None]) -> None:
        self.network.timers.setdefault(self.spec.name, []).append((interval, tick))


class ContractError(AssertionError):
    """A behaviour broke the InstanceContext contract (answered twice, answered the unknown...)."""


class FakeNetwork:
    """Many instances, one FIFO queue; failure injection by killing instances."""

    def __init__(self, settings: BehaviourSettings | None = None, seed: str = "test") -> None:
        self.settings = settings or BehaviourSettings()
        self.seed = seed
        self.clock = 0.0
        self.contexts: dict[str, FakeContext] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.queue: deque[Message] = deque()
        self.delivered: list[Message] = []  # every message handed to an instance or a reply handler
        self.edges: list[tuple[str, str]] = []  # from ctx.connect
        self.timers: dict[str, list[tuple[float, Callable[[], None]]]] = {}
        self.dead: set[str] = set()
        self.issued: Counter[str] = Counter()  # calls (and forwards) made, by caller
        self.outcomes: Counter[tuple[str, Status]] = Counter()  # call outcomes, by caller and status
        self._next_id = 0
        self._pending: dict[tuple[str, int], ReplyHandler] = {}  # (caller, request id) -> handler
        self._open: dict[tuple[str, str, int], Message] = {}  # (receiver, reply_to, id) -> request

    # --- building -----------------------------------------------------------------------------

    def add(self, spec: InstanceSpec, behaviour: Callable[[FakeContext], B] | None = None) -> B:
        """Create an instance; its behaviour is its package's unless a stand-in is given."""
        ctx = FakeContext(self, spec, self.settings, self.seed)
        self.contexts[spec.name] = ctx
        instance = (behaviour or behaviour_for(spec.package))(ctx)
        self.behaviours[spec.name] = instance
        return instance  # type: ignore[return-value]  # the package's class when no factory is given

    def set_routes(self, name: str, peers: Iterable[InstanceSpec | Peer]) -> None:
        """Replace an instance's routes (as discovery would) and tell its behaviour."""
        table = self.contexts[name].route_table
        table.clear()
        for p in peers:
            peer = peer_of(p) if isinstance(p, InstanceSpec) else p
            if peer.name != name:
                table[peer.name] = peer
        self.behaviours[name].on_routes_changed()

    def start_all(self) -> None:
        for instance in self.behaviours.values():
            instance.start()

    @classmethod
    def from_plan(
        cls, plan: DeploymentPlan, settings: BehaviourSettings | None = None, seed: str = "test"
    ) -> FakeNetwork:
        """Every instance of the plan, started, then wired by the simple discovery rule."""
        network = cls(settings or BehaviourSettings(regions=plan.regions), seed)
        for spec in plan.instances:
            network.add(spec)
        network.start_all()  # the runtime's order: start, then discovery fills the routes
        for spec in plan.instances:
            network.set_routes(spec.name, visible_dependencies(spec, plan.instances))
        return network

    # --- the InstanceContext operations -------------------------------------------------------

    def call(self, caller: str, target: str, kind: Kind, payload: str, on_reply: ReplyHandler) -> None:
        self._next_id += 1
        rid = self._next_id
        self._pending[(caller, rid)] = on_reply
        self.issued[caller] += 1
        self.post(
            Message(kind=kind, sender=caller, target=target, payload=payload, request_id=rid, reply_to=caller)
        )

    def forward(self, forwarder: str, request: Message, target: str) -> None:
        self._require_open(forwarder, request)

        def relay(response: Message) -> None:
            self.reply(forwarder, request, response.payload, response.status)

        self.call(forwarder, target, request.kind, request.payload, relay)

    def reply(self, responder: str, request: Message, payload: str, status: Status = Status.OK) -> None:
        self._require_open(responder, request)
        del self._open[(responder, request.reply_to, request.request_id)]
        self._respond(responder, request, payload, status)

    def post(self, msg: Message) -> None:
        self.queue.append(msg)

    def ask(self, target: str, kind: Kind, payload: str, caller: str = "client") -> Message:
        """Send one request from outside the network, run to idle, return its single outcome."""
        outcomes: list[Message] = []
        self.call(caller, target, kind, payload, outcomes.append)
        self.run_until_idle()
        if len(outcomes) != 1:
            raise ContractError(f"{len(outcomes)} outcomes for one request to {target}")
        return outcomes[0]

    # --- driving ------------------------------------------------------------------------------

    def tick(self, name: str, times: int = 1) -> None:
        """Fire every timer of one instance `times` times, delivering what each round sends."""
        for _ in range(times):
            if name in self.dead:
                return
            for _interval, tick in self.timers.get(name, ()):
                tick()
            self.run_until_idle()

    def step(self, count: int = 1) -> None:
        """Deliver at most `count` queued messages: lets a test act between hops."""
        for _ in range(count):
            if not self.queue:
                return
            self._deliver(self.queue.popleft())

    def run_until_idle(self, limit: int = 1_000_000) -> int:
        delivered = 0
        while self.queue:
            delivered += 1
            if delivered > limit:
                raise ContractError(f"still busy after {limit} messages: a message loop?")
            self._deliver(self.queue.popleft())
        return delivered

    def kill(self, name: str, forget: bool = False) -> None:
        """The instance dies: what it owed fails with DEAD_INSTANCE, messages to it fail or vanish."""
        self.dead.add(name)
        for key in [k for k in self._open if k[0] == name]:
            self._respond(name, self._open.pop(key), "", Status.DEAD_INSTANCE)
        if forget:
            for other, ctx in self.contexts.items():
                if name in ctx.route_table and other not in self.dead:
                    del ctx.route_table[name]
                    self.behaviours[other].on_routes_changed()

    # --- checks -------------------------------------------------------------------------------

    def unanswered(self) -> list[Message]:
        """Requests received but neither answered nor forwarded yet."""
        return list(self._open.values())

    def outstanding_calls(self) -> int:
        return len(self._pending)

    def sent(self, kind: Kind, sender: str | None = None) -> list[Message]:
        return [m for m in self.delivered if m.kind == kind and (sender is None or m.sender == sender)]

    # --- internals ----------------------------------------------------------------------------

    def _require_open(self, name: str, request: Message) -> None:
        if (name, request.reply_to, request.request_id) not in self._open:
            raise ContractError(f"{name} answered a request it does not hold: {request!r}")

    def _respond(self, responder: str, request: Message, payload: str, status: Status) -> None:
        self.post(
            Message(
                kind=RESPONSE_FOR[request.kind],
                sender=responder,
                target=request.reply_to,
                payload=payload,
                request_id=request.request_id,
                reply_to=request.reply_to,
                status=status,
            )
        )

    def _deliver(self, msg: Message) -> None:
        target = msg.target
        if msg.is_response:
            handler = self._pending.pop((target, msg.request_id), None)
            if handler is None:
                raise ContractError(f"a response nobody waits for: {msg!r}")
            self.outcomes[(target, msg.status)] += 1
            if target in self.dead:
                return
            self.delivered.append(msg)
            handler(msg)
            return
        if target in self.dead or target not in self.behaviours:
            if msg.is_request:
                self._respond(target, msg, "", Status.DEAD_INSTANCE)
            return
        if msg.is_request:
            self._open[(target, msg.reply_to, msg.request_id)] = msg
        self.delivered.append(msg)
        self.behaviours[target].on_message(msg)


class Scripted(Behaviour):
    """A stand-in endpoint: answers from a table (default: its own name) and records what it gets."""

    def __init__(self, ctx: FakeContext) -> None:
        super().__init__(ctx)
        self.received: list[Message] = []
        self.answers: dict[str, tuple[str, Status]] = {}
        self.default: tuple[str, Status] = (ctx.spec.name, Status.OK)

    def on_message(self, msg: Message) -> None:
        self.received.append(msg)
        if msg.is_request:
            payload, status = self.answers.get(msg.payload, self.default)
            self.ctx.reply(msg, payload, status)


def visible_dependencies(spec: InstanceSpec, instances: Iterable[InstanceSpec]) -> list[InstanceSpec]:
    """The simple discovery rule: instances of my dependency services that my registry scope
    reaches (my region unless either side is global or cross-region), zone-filtered for
    zone-local packages (same zone name; a `*` zone never matches)."""
    deps = set(spec.dependencies)
    zone_local = not behaviour_for(spec.package).cross_zone
    everywhere = spec.registry_scope == "all"
    visible = []
    for other in instances:
        if other.service not in deps or other.name == spec.name:
            continue
        if not (everywhere or other.registry_scope == "all" or other.region == spec.region):
            continue
        if zone_local and (other.zone != spec.zone or spec.zone == "*"):
            continue
        visible.append(other)
    return visible
