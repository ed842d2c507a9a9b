"""A host's answers to the run's control calls, none of them per message: its counts (live and
final), the canary judge's window, and the incidents' changes (profiles, partitions) with what
each did while in force (runtime/affected.py). A mixin of HostCore (runtime/host.py); it uses only
the host attributes declared below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from nanoservices.runtime.affected import LOST_KEY, Affected, Sample
from nanoservices.runtime.breaker_events import FINAL_KEY, BreakerLog, Transition
from nanoservices.runtime.lag import LagProbe, lag_counts
from nanoservices.runtime.live import LiveCounts, request_counts
from nanoservices.runtime.sources import worker_counts
from nanoservices.runtime.stats import HostStats
from nanoservices.runtime.windows import Served, served_part

if TYPE_CHECKING:
    from nanoservices.model.behaviour import VersionBehaviour
    from nanoservices.runtime.instance import InstanceRuntime


class HostControl:
    """Counts, windows and incident changes of one host (HostCore's control half)."""

    # HostCore's attributes this half uses
    index: int
    instances: dict[str, InstanceRuntime]
    stats: HostStats
    breakers: BreakerLog
    lag: LagProbe
    clock: Callable[[], float]
    _blocked: frozenset[int]
    _partitioned: Affected | None
    _lost: dict[int | str, Affected]

    def counts(self) -> dict[str, object]:
        counts = self.stats.counts(self.index)
        counts["breaker_events_dropped"] = self.breakers.dropped
        counts.update(worker_counts(self))  # a traffic source worker's own figures (runtime/sources.py)
        return counts

    def final_counts(self) -> dict[str, object]:
        """counts(), and under FINAL_KEY (this host, its breaker transitions not yet confirmed):
        the supervisor pops those before summing."""
        counts = self.counts()
        counts[FINAL_KEY] = (self.index, self.breakers.since(0))
        counts["lag"] = lag_counts(self.index, self.lag.flush())
        if self._lost:  # requests failed on a gone target (runtime/affected.py): popped before summing
            counts[LOST_KEY] = {target: affected.sample() for target, affected in self._lost.items()}
        return counts

    def breaker_transitions(self, confirmed: int) -> list[Transition]:
        """Transitions after number `confirmed` (the last the supervisor recorded); it has the rest."""
        return self.breakers.since(confirmed)

    def live_counts(self) -> LiveCounts:
        """Requests so far, for the live progress display (spans are the tracing side's)."""
        stats = self.stats
        return request_counts(stats.requests_issued, stats.requests_completed, stats.requests_failed)

    def set_partition(self, blocked: set[int] | frozenset[int]) -> Sample | None:
        """The hosts this one cannot reach from now on (a network partition); empty heals it, and
        then returns what the partition did here: the requests it dropped (runtime/affected.py)."""
        self._blocked = frozenset(blocked)
        if self._blocked:
            if self._partitioned is None:
                self._partitioned = Affected()
            return None
        ended, self._partitioned = self._partitioned, None
        return ended.sample() if ended is not None else None

    def set_profiles(self, profiles: Mapping[str, VersionBehaviour | None]) -> Sample | None:
        """How these instances serve from now on (latency and error incidents). When that ends an
        incident on some of them (their own profile back), what it did to them: the requests it
        slowed or failed (runtime/affected.py), summed; else None."""
        count = 0
        traces: list[tuple[float, str]] = []
        ended = False
        for name, profile in profiles.items():
            instance = self.instances.get(name)
            if instance is not None:
                sample = instance.set_profile(profile)
                if sample is not None:
                    ended = True
                    count += sample[0]
                    traces.extend(sample[1])
        return (count, tuple(traces)) if ended else None

    def served(self, service: str, version: str, since: int) -> Served:
        """This host's part of service@version's window from second `since` on (the canary judge's)."""
        return served_part(self.stats.series, service, version, since)
