"""denominator, the global DNS: the traffic source of every architecture.

Each tick it sends one request to a random route: a third each of GET "why?", GET of a key that
may have been put earlier, and PUT of a new key. spigo lets only the last-created instance chat;
here every denominator does.
"""

from __future__ import annotations

from nanoservices.load import RateSchedule
from nanoservices.messages import Kind, Message
from nanoservices.packages.base import Behaviour, InstanceContext


def _ignore(response: Message) -> None:
    """Outcomes are counted by the runtime; the denominator has nothing more to do with them."""


class Denominator(Behaviour):
    packages = ("denominator",)
    cross_zone = True
    generates_traffic = True
    rate_source = True

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        self._targets: tuple[str, ...] = ()
        self._next_key = 1  # spigo's w: the next PUT writes Why<w><w*w>

    def start(self) -> None:
        self.on_routes_changed()
        ctx = self.ctx
        settings = ctx.settings
        schedule = settings.schedule(ctx.spec.service)
        if schedule is None and not settings.poisson:
            ctx.every(settings.request_interval, self.tick)
            return
        if schedule is None:
            schedule = RateSchedule(1.0 / settings.request_interval)
        ctx.at_gaps(schedule, settings.poisson, self.tick)  # the scenario's load: actions, --arrivals

    def on_routes_changed(self) -> None:
        self._targets = tuple(sorted(self.ctx.routes))

    def tick(self) -> None:
        targets = self._targets
        if not targets:
            return
        ctx = self.ctx
        rng = ctx.rng
        target = targets[rng.randrange(len(targets))]
        choice = rng.randrange(3)
        if choice == 0:
            ctx.call(target, Kind.GET_REQUEST, "why?", _ignore)
        elif choice == 1:
            q = rng.randrange(self._next_key)
            ctx.call(target, Kind.GET_REQUEST, f"Why{q}{q * q}", _ignore)
        else:
            w = self._next_key
            ctx.call(target, Kind.PUT, f"Why{w}{w * w} me", _ignore)
            self._next_key = w + 1
