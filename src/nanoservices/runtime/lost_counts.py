"""Hosts whose counts never reached the summary, and what is still known of them.

A host that dies (kill -9, a lost machine) or whose final counts fail at shutdown takes its
counters with it. Its requests must not vanish from the run's figures without a word: the last
live figures the supervisor polled are kept for every host, so the summary can say how many
requests the host had issued, completed and failed when it was last seen, and that the rest of
its accounting is not checked. Ray-free: the Ray supervisor and the in-process run share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nanoservices.runtime.live import LiveCounts, total

SHUTDOWN = "final counts failed at shutdown"


class LostCounts:
    """The last live figures of every host, and the hosts whose counts were lost, with why."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, LiveCounts]] = {}  # host -> (seconds into the traffic, figures)
        self.reasons: dict[int, str] = {}  # host -> why its counts are missing (the first reason)

    def seen(self, host: int, at: float, counts: Mapping[str, int]) -> None:
        self._last[host] = (at, dict(counts))

    def lose(self, host: int, reason: str) -> None:
        self.reasons.setdefault(host, reason)

    def __contains__(self, host: object) -> bool:
        return host in self.reasons

    def finals(
        self, hosts: Sequence[int], results: Sequence[object], why: str = SHUTDOWN
    ) -> list[dict[str, Any]]:
        """The final counts among `results` (one per host, as gather(return_exceptions=True) gives
        them); a host whose result is an error has its counts lost, with `why` and the error."""
        counts = []
        for host, result in zip(hosts, results, strict=True):
            if isinstance(result, dict):
                counts.append(result)
            else:
                self.lose(host, f"{why} ({_error_name(result)})")
        return counts

    def last_figures(self) -> LiveCounts:
        """The lost hosts' last live figures summed: the live display keeps counting them."""
        return total(self._last[h][1] for h in self.reasons if h in self._last)

    def report(
        self, specs_of: Callable[[int], Sequence[Any]], sends_traffic: Callable[[int], bool]
    ) -> list[dict[str, Any]]:
        """One record per lost host, for summary.json's `counts_lost`: why, what ran there, and its
        last live figures (None when it was never seen: then what it issued is unknown)."""
        out = []
        for host in sorted(self.reasons):
            specs = specs_of(host)
            at, figures = self._last.get(host, (None, None))
            out.append(
                {
                    "host": host,
                    "reason": self.reasons[host],
                    "instances": len(specs),
                    "services": sorted({s.service for s in specs}),
                    "traffic_source": sends_traffic(host),
                    "seen_at": None if at is None else round(at, 3),
                    "issued": None if figures is None else figures.get("issued", 0),
                    "completed": None if figures is None else figures.get("completed", 0),
                    "failed": None if figures is None else figures.get("failed", 0),
                }
            )
        return out


def issued_unknown(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The lost hosts whose traffic source's requests are not accounted for: it issued some by its
    last figures, or it runs a traffic source and was never seen."""
    return [r for r in records if r["issued"] or (r["issued"] is None and r["traffic_source"])]


def lost_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per lost host: which, why, and what its last live figures said."""
    lines = []
    for r in records:
        what = f"{', '.join(r['services'])}: {r['instances']:,} instance{'s' if r['instances'] != 1 else ''}"
        if r["issued"] is None:
            seen = "no live figures of it were seen"
        else:
            seen = (
                f"its last live figures (at {r['seen_at']:.1f} s): {r['issued']:,} requests issued, "
                f"{r['completed']:,} completed, {r['failed']:,} failed"
            )
        lines.append(
            f"not checked: host {r['host']} ({what}), {r['reason']}; its hops are not checked; {seen}"
        )
    return lines


def _error_name(error: object) -> str:
    if isinstance(error, BaseException):
        cause = getattr(error, "cause", None)  # a Ray task error names the error inside
        name = type(error).__name__
        return f"{name}: {type(cause).__name__}" if isinstance(cause, BaseException) else name
    return type(error).__name__
