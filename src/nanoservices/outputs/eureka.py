"""The registries' ground truth for the summary: how many leases each Eureka server evicted, how
many self-preservation held back, and when each eviction round ran, in seconds of the traffic.

Registries replicate registrations and heartbeats, but each runs its own eviction timer: a dead
instance registered in a region of three zones is evicted three times, once per server. The totals
are therefore per registry, summed; the rounds say which server evicted what, when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def eureka_totals(
    counts: Sequence[tuple[str, Mapping[str, Any] | None]], run_started: float
) -> dict[str, Any]:
    """(zone, registry.lease_counts or None when the server did not answer) per registry, and
    the clock the traffic started at: the summary's `eureka` record."""
    evictions = [
        {"at": round(at - run_started, 3), "registry": str(c["registry"]), "zone": zone, "count": n}
        for zone, c in counts
        if c is not None
        for at, n in c["rounds"]
    ]
    evictions.sort(key=lambda e: (e["at"], e["zone"]))
    per_registry = {zone: int(c["evicted"]) for zone, c in counts if c is not None}
    return {
        "evicted": sum(per_registry.values()),
        "held_back": sum(int(c["held_back"]) for _, c in counts if c is not None),
        "revived": sum(int(c.get("revived", 0)) for _, c in counts if c is not None),
        "per_registry": per_registry,
        "unanswered": sorted(zone for zone, c in counts if c is None),
        "evictions": evictions,
    }


def last_eviction(eureka: Mapping[str, Any]) -> float | None:
    """Seconds into the traffic of the run's last eviction round, None when nothing was evicted."""
    return max((float(e["at"]) for e in eureka.get("evictions", ())), default=None)


def eureka_lines(eureka: Mapping[str, Any]) -> list[str]:
    """The summary line, when a registry evicted or held back a lease (or did not answer)."""
    if not eureka or not (eureka["evicted"] or eureka["held_back"] or eureka["unanswered"]):
        return []
    per = sorted(eureka["per_registry"].items())
    each = {n for _, n in per}
    if len(each) == 1 and len(per) > 1:
        split = f"{each.pop():,} by each of {len(per)} registries"
    else:
        split = ", ".join(f"{zone} {n:,}" for zone, n in per)
    last = last_eviction(eureka)
    when = f"; last {last:.1f} s into the traffic" if last is not None else ""
    evicted = eureka["evicted"]
    line = (
        f"  eureka: {evicted:,} lease{'' if evicted == 1 else 's'} evicted ({split}{when}), "
        f"{eureka['held_back']:,} held back by self-preservation for a round or more"
    )
    if eureka.get("revived"):
        line += (
            f"; {eureka['revived']:,} back at their next heartbeat (evicted alive: heartbeats came late, "
            "raise --lease-renewal)"
        )
    if eureka["unanswered"]:
        line += f"; not counted: {', '.join(eureka['unanswered'])} (did not answer at shutdown)"
    return [line]
