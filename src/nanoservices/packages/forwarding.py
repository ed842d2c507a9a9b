"""The request-forwarding rule shared by elb, zuul, karyon and monolith.

spigo gives the four packages one set of handlers; so do we. Only the package name and the zone
filter differ, and those are class attributes of the thin subclasses.
"""

from __future__ import annotations

from nanoservices.messages import Kind, Message, Status
from nanoservices.naming import INSTANCE, field
from nanoservices.packages.base import Behaviour, InstanceContext


class Forwarder(Behaviour):
    """Pass each request to a uniformly random route; a leaf (no dependencies) answers it itself.

    spigo's leaf karyon drops GETs, so they never complete; here a leaf answers GETs with its
    instance label and acknowledges PUTs, so every request ends.
    """

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        self._targets: tuple[str, ...] = ()
        self._leaf = not ctx.spec.dependencies
        self._answer = field(ctx.spec.name, INSTANCE)

    def start(self) -> None:
        self.on_routes_changed()

    def on_routes_changed(self) -> None:
        # Sorted, so the random pick does not depend on the order discovery happened to report them.
        self._targets = tuple(sorted(self.ctx.routes))

    def on_message(self, msg: Message) -> None:
        if not msg.is_request:
            return  # Replicate and the rest are ignored, as in spigo
        ctx = self.ctx
        if self._leaf:
            ctx.reply(msg, self._answer if msg.kind == Kind.GET_REQUEST else "")
            return
        targets = self._targets
        if targets:
            ctx.forward(msg, targets[ctx.rng.randrange(len(targets))])
        else:
            ctx.reply(msg, "", Status.NO_ROUTE)
