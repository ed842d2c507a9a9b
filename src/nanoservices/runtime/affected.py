"""Ground truth of an incident's effects: which traces it touched, so a detector can be scored per
trace and not only per window.

While an incident is in force on a host, the host keeps one `Affected` for it: how many requests it
affected and the trace ids of the first `SAMPLE_SIZE` of them (distinct traces, in the order they were
affected). A request is affected when
- a latency incident's profile served it (every such request is slowed), or an error incident's
  profile served it and it failed (runtime/instance.py, `_reply_profiled`);
- a partition dropped it on its way out of this host (runtime/host.py, `_ship`): its caller sees a
  timeout.
The ids are the hex trace ids of the exported spans (the 32 hex digits of the request's W3C
traceparent, as tracing/ids.py draws them); an untraced run counts affected requests but has no ids.
No incident in force: the host pays one `is None` test per profiled reply or shipped batch, nothing else.

The host hands its `Sample` back when the incident's change is undone (set_profiles back to an
instance's own profile, set_partition to nothing), and `merge` makes the end event's
`details["affected"]` and `details["trace_ids"]` from every host's sample.

A kill (Chaos Monkey, Gorilla, Kong) has no end: every host samples the requests that failed because
their target was gone (its deliveries to a dead host failed, or it answered STOPPED for a stopped
instance), per target, for the whole run, and hands that back with its final counts; at the run's end
`loss_effects` makes one `chaos-effects` event per kill from them. Requests that were already in
flight to a killed host time out at their callers without their trace at hand: they are not sampled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from nanoservices.scenario.events import Event, EventKind

SAMPLE_SIZE = 20  # trace ids an incident's event carries at most: the first affected, across hosts
Sample = tuple[int, tuple[tuple[float, str], ...]]  # (requests affected, ((when, trace id), ...)) of a host


class Affected:
    """One host's count and first trace ids of the requests an incident affected."""

    __slots__ = ("count", "profile", "slows", "traces")

    def __init__(self, profile: object = None, slows: bool = False) -> None:
        self.count = 0
        self.traces: list[tuple[float, str]] = []
        self.profile = profile  # the incident profile an instance serves with (None: a partition)
        self.slows = slows  # every request served with it is slowed (a latency incident in it)

    def add(self, traceparent: str, at: float) -> None:
        """One affected request; its traceparent ("" untraced) gives the trace id."""
        self.count += 1
        if traceparent and len(self.traces) < SAMPLE_SIZE:
            trace = traceparent[3:35]
            if all(t != trace for _, t in self.traces):
                self.traces.append((at, trace))

    def sample(self) -> Sample:
        return self.count, tuple(self.traces)


def merge(samples: Iterable[Sample]) -> dict[str, object]:
    """Hosts' samples as an event's details: requests affected in all, and the distinct trace ids of
    the first SAMPLE_SIZE of them by when they were affected."""
    count = 0
    traces: list[tuple[float, str]] = []
    for n, sampled in samples:
        count += n
        traces.extend(sampled)
    ids: list[str] = []
    for _, trace in sorted(traces):
        if len(ids) == SAMPLE_SIZE:
            break
        if trace not in ids:
            ids.append(trace)
    return {"affected": count, "trace_ids": ids}


# --- kills (Chaos Monkey, Gorilla, Kong): no end, so their effects are told at the run's end ----------
LOST_KEY = "affected_lost"  # in a host's final counts: target (host index or instance name) -> Sample
LOSSES = (EventKind.CHAOS_MONKEY, EventKind.GORILLA, EventKind.KONG)


def pop_lost(counts: dict[str, object]) -> Mapping[int | str, Sample]:
    """Take a host's samples of requests failed on gone targets out of its final counts (so the rest
    can be summed): HostCore keeps them per target host (its deliveries failed: dead) and per target
    instance (its host answered STOPPED)."""
    lost = counts.pop(LOST_KEY, None)
    return lost if isinstance(lost, Mapping) else {}


def loss_effects(
    losses: Sequence[Event], parts: Sequence[Mapping[int | str, Sample]], at: float
) -> list[Event]:
    """One `chaos-effects` event per kill, emitted when the run ends (a kill has no end event, and
    callers keep failing on a lost target until discovery drops it): the requests whose target
    was gone (its hosts for a Gorilla or Kong and a lone instance's Monkey, the instance inside a
    shared host for a Monkey), summed over every host's final `parts`."""
    effects = []
    for loss in losses:
        if loss.kind not in LOSSES or not loss.instances:
            continue
        details = loss.details
        if loss.kind is EventKind.CHAOS_MONKEY:
            host = details.get("host")  # the victim's host, killed with it unless it was shared
            killed_host = [host] if host is not None and details.get("method") != "cancel" else []
            targets: list[object] = [*loss.instances, *killed_host]
        else:
            targets = list(details.get("lost_hosts", ()))
        samples = [part[t] for part in parts for t in targets if t in part]  # type: ignore[index]
        effects.append(
            Event(
                at,
                EventKind.CHAOS_EFFECTS,
                loss.service,
                loss.versions,
                loss.instances,
                {"of": loss.kind.value, "killed_at": loss.at, **merge(samples)},
            )
        )
    return effects
