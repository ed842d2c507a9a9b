"""staash, the data access layer: reads from the best storage class, writes to every class.

Routes fall into classes by package, in read priority cache → volume → priamCassandra/riak →
store → staash. spigo's staash never routes to riak, so riak architectures had no storage
traffic; here riak shares cassandra's class. spigo also drops a read that a class answers with
"not found"; here the read falls through to the next class and always ends.
"""

from __future__ import annotations

from nanoservices.messages import Kind, Message, Status
from nanoservices.naming import INSTANCE, field
from nanoservices.packages.base import Behaviour, InstanceContext

CLASS_OF = {"cache": 0, "volume": 1, "priamCassandra": 2, "riak": 2, "store": 3, "staash": 4}
VOLUME = CLASS_OF["volume"]
CLASS_COUNT = max(CLASS_OF.values()) + 1


class Staash(Behaviour):
    packages = ("staash",)
    cross_zone = True

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        # Non-empty classes in priority order: (is a volume class, member names).
        self.classes: tuple[tuple[bool, tuple[str, ...]], ...] = ()
        self.volume_prefix = field(ctx.spec.name, INSTANCE) + "/"

    def start(self) -> None:
        self.on_routes_changed()

    def on_routes_changed(self) -> None:
        members: list[list[str]] = [[] for _ in range(CLASS_COUNT)]
        for name, peer in self.ctx.routes.items():
            index = CLASS_OF.get(peer.package)
            if index is not None:
                members[index].append(name)
        self.classes = tuple((i == VOLUME, tuple(sorted(m))) for i, m in enumerate(members) if m)

    def on_message(self, msg: Message) -> None:
        if msg.kind == Kind.GET_REQUEST:
            if self.classes:
                _Read(self, msg).try_class(0)
            else:
                self.ctx.reply(msg, "", Status.NO_ROUTE)
        elif msg.kind == Kind.PUT:
            if self.classes:
                _Write(self, msg)
            else:
                self.ctx.reply(msg, "", Status.NO_ROUTE)

    def pick(self, members: tuple[str, ...]) -> str:
        return members[self.ctx.rng.randrange(len(members))]


class _Read:
    """One GET walking down the classes until one has the key."""

    __slots__ = ("answered", "classes", "index", "last_failure", "owner", "request")

    def __init__(self, owner: Staash, request: Message) -> None:
        self.owner = owner
        self.request = request
        self.classes = owner.classes  # a snapshot: routes may change while a call is in flight
        self.index = 0
        self.answered = False  # some class said "not found" (an OK, empty answer)
        self.last_failure = Status.NO_ROUTE

    def try_class(self, index: int) -> None:
        owner = self.owner
        classes = self.classes
        if index >= len(classes):
            if self.answered:
                owner.ctx.reply(self.request, "")
            else:
                owner.ctx.reply(self.request, "", self.last_failure)
            return
        self.index = index
        owner.ctx.call(owner.pick(classes[index][1]), Kind.GET_REQUEST, self.request.payload, self.on_reply)

    def on_reply(self, response: Message) -> None:
        if response.status == Status.OK:
            if response.payload:
                self.owner.ctx.reply(self.request, response.payload)
                return
            self.answered = True
        else:
            self.last_failure = response.status
        self.try_class(self.index + 1)


class _Write:
    """One PUT copied to one member of every class, acknowledged once every copy is."""

    __slots__ = ("failure", "owner", "remaining", "request")

    def __init__(self, owner: Staash, request: Message) -> None:
        self.owner = owner
        self.request = request
        self.failure = Status.OK
        classes = owner.classes
        self.remaining = len(classes)
        call = owner.ctx.call
        for is_volume, members in classes:
            payload = owner.volume_prefix + request.payload if is_volume else request.payload
            call(owner.pick(members), Kind.PUT, payload, self.on_reply)

    def on_reply(self, response: Message) -> None:
        if response.status != Status.OK and self.failure == Status.OK:
            self.failure = response.status
        self.remaining -= 1
        if self.remaining == 0:
            self.owner.ctx.reply(self.request, "", self.failure)
