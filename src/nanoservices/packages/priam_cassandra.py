"""priamCassandra (and riak): a key/value node on a per-zone token ring, replicating writes.

A key belongs to the ring member whose token is the last at or below the key's CRC-32; other
members pass reads and writes on to it. Every write is also copied one way to one peer in each
other zone of the region and one peer in each other active region; a copy arriving from another
region is copied once more to the other zones of this region. riak has no ring: every node
stores everything it is sent.
"""

from __future__ import annotations

from nanoservices.geography import REGIONS, ZONES
from nanoservices.messages import Kind, Message, Status
from nanoservices.model.ring import TokenRing
from nanoservices.naming import REGION, field
from nanoservices.packages.base import Behaviour, InstanceContext
from nanoservices.packages.store import SEED_DATA, parse_write


class PriamCassandra(Behaviour):
    packages = ("priamCassandra",)
    cross_zone = True
    stateful = True
    keeps_ring = True

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        spec = ctx.spec
        self.data: dict[str, str] = dict(SEED_DATA)
        self.ring = TokenRing.of(spec.ring) if spec.ring else None  # split once: looked up per request
        self._me = spec.name
        # Replica candidates, one group per other zone of my region / other active region.
        self.zone_groups: tuple[tuple[str, ...], ...] = ()
        self.region_groups: tuple[tuple[str, ...], ...] = ()

    def start(self) -> None:
        self.on_routes_changed()

    def on_routes_changed(self) -> None:
        """Group the peers of my own service (my cluster) by the other zones and other regions."""
        spec = self.ctx.spec
        peers = [p for p in self.ctx.routes.values() if p.service == spec.service]
        zones = [z for z in ZONES if z != spec.zone]
        regions = [r for r in REGIONS[: self.ctx.settings.regions] if r != spec.region]
        self.zone_groups = _groups(zones, [(p.zone, p.name) for p in peers if p.region == spec.region])
        self.region_groups = _groups(regions, [(p.region, p.name) for p in peers])

    def on_message(self, msg: Message) -> None:
        kind = msg.kind
        if kind == Kind.GET_REQUEST:
            self._get(msg)
        elif kind == Kind.PUT:
            self._put(msg)
        elif kind == Kind.REPLICATE:
            self._replicate(msg)

    def owner_of(self, key: str) -> str:
        """Who stores key: me when there is no ring (riak), else the ring owner."""
        return self.ring.owner(key) if self.ring is not None else self._me

    def _get(self, msg: Message) -> None:
        owner = self.owner_of(msg.payload)
        if owner == self._me:
            self.ctx.reply(msg, self.data.get(msg.payload, ""))
        elif owner in self.ctx.routes:
            self.ctx.forward(msg, owner)
        else:
            self.ctx.reply(msg, "", Status.NO_ROUTE)

    def _put(self, msg: Message) -> None:
        write = parse_write(msg.payload)
        if write is None:
            self.ctx.reply(msg, "")
            return
        owner = self.owner_of(write[0])
        if owner == self._me:
            self.data[write[0]] = write[1]
            self.ctx.reply(msg, "")
        elif owner in self.ctx.routes:
            self.ctx.forward(msg, owner)
        else:
            self.ctx.reply(msg, "", Status.NO_ROUTE)
        self._copy_to(self.zone_groups, msg.payload)
        self._copy_to(self.region_groups, msg.payload)

    def _replicate(self, msg: Message) -> None:
        write = parse_write(msg.payload)
        if write is None:
            return
        owner = self.owner_of(write[0])
        if owner == self._me:
            self.data[write[0]] = write[1]
        elif owner in self.ctx.routes:
            self.ctx.send(owner, Kind.REPLICATE, msg.payload)
        if field(msg.sender, REGION) != self.ctx.spec.region:
            self._copy_to(self.zone_groups, msg.payload)

    def _copy_to(self, groups: tuple[tuple[str, ...], ...], payload: str) -> None:
        ctx = self.ctx
        for members in groups:
            ctx.send(members[ctx.rng.randrange(len(members))], Kind.REPLICATE, payload)


def _groups(order: list[str], keyed: list[tuple[str, str]]) -> tuple[tuple[str, ...], ...]:
    """The non-empty groups of names by key, in the given key order, each sorted by name."""
    return tuple(group for key in order if (group := tuple(sorted(name for k, name in keyed if k == key))))


class Riak(PriamCassandra):
    """riak: priamCassandra's replication without a token ring (spigo gives only priamCassandra one)."""

    packages = ("riak",)
    keeps_ring = False
