"""store, cache and volume: key/value endpoints with optional replication to their own peers.

A store only has peers of its own package when its service depends on itself (rds-mysql, kafka,
zookeeper); then every write is copied, one way, to each of them.
"""

from __future__ import annotations

from nanoservices.messages import Kind, Message
from nanoservices.packages.base import Behaviour, InstanceContext

SEED_DATA = {"why?": "because..."}


def parse_write(payload: str) -> tuple[str, str] | None:
    """A write is "key value"; anything else is not stored (spigo needs both words)."""
    parts = payload.split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


class Store(Behaviour):
    packages = ("store", "cache", "volume")
    cross_zone = True
    stateful = True

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        self.data: dict[str, str] = dict(SEED_DATA)
        self._peers: tuple[str, ...] = ()

    def start(self) -> None:
        self.on_routes_changed()

    def on_routes_changed(self) -> None:
        package = self.ctx.spec.package
        self._peers = tuple(sorted(name for name, peer in self.ctx.routes.items() if peer.package == package))

    def on_message(self, msg: Message) -> None:
        kind = msg.kind
        if kind == Kind.GET_REQUEST:
            self.ctx.reply(msg, self.data.get(msg.payload, ""))
        elif kind == Kind.PUT:
            write = parse_write(msg.payload)
            if write is not None:
                self.data[write[0]] = write[1]
                send = self.ctx.send
                for peer in self._peers:
                    send(peer, Kind.REPLICATE, msg.payload)
            self.ctx.reply(msg, "")
        elif kind == Kind.REPLICATE:
            write = parse_write(msg.payload)
            if write is not None:
                self.data[write[0]] = write[1]
