"""Clients that cope, as Netflix's did: Hystrix's circuit breaker per dependency, Ribbon's
per-server blackout and its zone-aware choice of the next server. Pure state machines on a clock
the caller passes in, so they are tested without Ray or an event loop.

The hot path pays a counter per response (Breaker.ok) and a truthiness check (Blackouts.failing);
the rest runs only when something fails, or once per breaker bucket (Breaker.roll).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from nanoservices.packages.base import Peer

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# Hystrix defaults: a 10 s rolling window of 10 buckets; trips at >= 50 % errors over >= 20
# requests; tries one request again after 5 s open.
WINDOW = 10.0
BUCKETS = 10
MIN_REQUESTS = 20
ERROR_PERCENT = 50.0
SLEEP = 5.0

# Ribbon defaults: a server is blacked out after 3 consecutive connection failures, for 10 s,
# doubling with every further failure up to 30 s.
BLACKOUT_AFTER = 3
BLACKOUT = 10.0
MAX_BLACKOUT = 30.0


class Breaker:
    """One dependency's circuit breaker. Callers count outcomes (`ok`, `failed`), ask `allow`
    before sending, and `roll` it on a timer so the window slides without a clock read per request."""

    __slots__ = ("_bucket_end", "_buckets", "errors", "opened_at", "requests", "state")

    def __init__(self) -> None:
        self.state = CLOSED
        self.requests = 0  # in the current bucket
        self.errors = 0
        self._buckets = [(0, 0)] * (BUCKETS - 1)  # the window's earlier buckets, oldest first
        self._bucket_end = 0.0
        self.opened_at = 0.0  # when it opened, or when its last trial went out

    def allow(self, now: float) -> bool:
        """Closed: yes. Open: no (short-circuit) until SLEEP after it opened or was last tried; then
        one trial request, half-open, as Hystrix's allowSingleTest: a trial that never ends allows
        the next one SLEEP later instead of holding the breaker half-open for ever."""
        if self.state is CLOSED:
            return True
        if now < self.opened_at + SLEEP:
            return False
        self.state, self.opened_at = HALF_OPEN, now
        return True

    def ok(self) -> str | None:
        """A success; returns the new state when it changed (a half-open trial closes it)."""
        self.requests += 1
        if self.state is HALF_OPEN:
            return self._close()
        return None

    def failed(self, now: float) -> str | None:
        """An error or timeout; returns the new state when it changed."""
        self.requests += 1
        self.errors += 1
        if self.state is HALF_OPEN:
            return self._open(now)
        if self.state is CLOSED:
            requests = self.requests + sum(r for r, _ in self._buckets)
            if requests >= MIN_REQUESTS:
                errors = self.errors + sum(e for _, e in self._buckets)
                if errors * 100.0 >= ERROR_PERCENT * requests:
                    return self._open(now)
        return None

    def roll(self, now: float) -> str | None:
        """Slide the window to `now`; an open breaker whose sleep is over goes half-open."""
        if now >= self._bucket_end:
            width = WINDOW / BUCKETS
            if self._bucket_end == 0.0:
                self._bucket_end = now + width
            else:
                passed = int((now - self._bucket_end) / width) + 1  # buckets that ended
                ended = [(self.requests, self.errors)] + [(0, 0)] * (min(passed, BUCKETS) - 1)
                self._buckets = (self._buckets + ended)[-(BUCKETS - 1) :]
                self.requests = self.errors = 0
                self._bucket_end += passed * width
        if self.state is OPEN and now >= self.opened_at + SLEEP:
            self.state = HALF_OPEN  # the next request is the trial
            return HALF_OPEN
        return None

    def _open(self, now: float) -> str:
        self.state, self.opened_at = OPEN, now
        return OPEN

    def _close(self) -> str:
        self.state = CLOSED
        self.requests = self.errors = 0
        self._buckets = [(0, 0)] * (BUCKETS - 1)
        return CLOSED


class Blackouts:
    """Ribbon's per-server connection-failure stats, for one caller."""

    __slots__ = ("failing", "until")

    def __init__(self) -> None:
        self.failing: dict[str, int] = {}  # server -> consecutive connection failures
        self.until: dict[str, float] = {}  # server -> end of its blackout

    def failure(self, server: str, now: float) -> bool:
        """Count a connection failure; True when it starts a blackout (a failure during one, of a
        request sent before it began, lengthens it)."""
        n = self.failing[server] = self.failing.get(server, 0) + 1
        if n < BLACKOUT_AFTER:
            return False
        starts = not self.out(server, now)
        self.until[server] = now + min(BLACKOUT * 2 ** (n - BLACKOUT_AFTER), MAX_BLACKOUT)
        return starts

    def success(self, server: str) -> None:
        self.failing.pop(server, None)
        self.until.pop(server, None)

    def out(self, server: str, now: float) -> bool:
        end = self.until.get(server)
        if end is None:
            return False
        if now < end:
            return True
        del self.until[server]  # over: one more chance, as Ribbon gives it
        return False


def choose(
    candidates: Sequence[Peer],
    exclude: Collection[str],
    zone: str,
    blackouts: Blackouts,
    now: float,
    rng: random.Random,
) -> str | None:
    """Ribbon's zone-aware choice of a server: leave out `exclude` and blacked-out servers (all of
    them if that leaves none), prefer the caller's zone unless every server left there is failing,
    then pick at random. None when no server is left."""
    left = [p for p in candidates if p.name not in exclude]
    if not left:
        return None
    usable = [p for p in left if not blackouts.out(p.name, now)] or left
    failing = blackouts.failing
    healthy_zones = {p.zone for p in usable if p.name not in failing}
    preferred = [p for p in usable if p.zone == zone] if zone in healthy_zones else []
    if not preferred:
        preferred = [p for p in usable if p.zone in healthy_zones] or usable
    return preferred[rng.randrange(len(preferred))].name
