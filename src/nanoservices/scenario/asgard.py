"""Asgard's deploy strategies, on top of a `Fleet` (what a runtime offers): red/black, rolling,
canary with an automated judge, highlander, and rollback.

A deploy never changes running instances: it starts a new server group of the new version beside
the old one, then moves traffic with Eureka statuses (and, for a canary, a traffic share), and
stops the old group once nothing routes to it. Every step is an Event, so events.jsonl is the
ground truth of what changed when. No Ray here: the Ray supervisor and the in-process run both
implement `Fleet`, and tests drive the strategies through the latter.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nanoservices.outputs.records import ExitReason
from nanoservices.plan import InstanceSpec
from nanoservices.registry import OUT_OF_SERVICE, UP
from nanoservices.scenario.actions import Canary, Deploy, Highlander, RedBlack, Rolling
from nanoservices.scenario.events import Event, EventKind
from nanoservices.scenario.judge import Verdict, Window, judge, look_alphas, looks

DRAIN = 1.0  # seconds a replaced instance keeps answering what was sent to it before it stops
UNFINISHED = "unfinished"  # the run reached its end (-d) before the deploy did
INTERRUPTED = "interrupted"  # the run was stopped early (Ctrl-C, an API caller's stop)
ENDED_BY = {UNFINISHED: EventKind.DEPLOY_UNFINISHED, INTERRUPTED: EventKind.DEPLOY_INTERRUPTED}


class RunEnding(Exception):
    """The fleet's clock stopped (the run is ending) while a deploy waited on it."""


class Fleet(Protocol):
    """What deploys need from a runtime."""

    def now(self) -> float:
        """Seconds since the run's traffic started (the timeline's clock)."""
        ...

    async def wait(self, seconds: float) -> bool:
        """Sleep on the run's clock; False when the run is stopping."""
        ...

    async def start_group(self, like: Sequence[InstanceSpec], version: str) -> list[InstanceSpec]:
        """Start one new instance per spec in `like` (same service, location and dependencies) at
        `version`; returns when they are registered as STARTING."""
        ...

    async def set_status(self, specs: Sequence[InstanceSpec], status: str) -> None: ...

    async def set_shares(self, service: str, shares: dict[str, float]) -> None:
        """Split the service's traffic between versions; {} lets it spread over instances again."""
        ...

    async def refresh(self) -> None:
        """Every caller polls Eureka now, as a load balancer's deregistration takes effect at once."""
        ...

    async def stop_group(self, specs: Sequence[InstanceSpec], reason: ExitReason) -> None:
        """Stop gracefully: deregister, record why they are done."""
        ...

    async def window(self, service: str, version: str, since: float) -> Window:
        """What the service's instances of `version` served since `since` (for the canary judge)."""
        ...

    def emit(self, event: Event) -> None: ...


@dataclass
class Group:
    version: str
    specs: list[InstanceSpec]
    status: str = UP


@dataclass
class Outcome:
    """One deploy, as summary.json reports it."""

    service: str
    from_version: str
    to_version: str
    strategy: str
    started: float
    finished: float = 0.0
    outcome: str = "in_progress"  # promoted | rolled_back | inconclusive | unfinished | interrupted
    resolution: str | None = None  # canary: which version it left serving (promoted | rolled_back)
    detected_after: float | None = None  # canary: seconds from its first traffic to the failing verdict
    judgements: list[dict[str, object]] = field(default_factory=list)
    phase: str = "start"  # where it stands (stood, once unfinished or interrupted): start-group, shift, ...
    step: str = ""  # rolling: which step of how many ("2/3")

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "strategy": self.strategy,
            "started": round(self.started, 3),
            "finished": round(self.finished, 3),
            "outcome": self.outcome,
            "resolution": self.resolution,
            "detected_after": None if self.detected_after is None else round(self.detected_after, 3),
            "judgements": self.judgements,
            "phase": f"{self.phase} (step {self.step})" if self.step else self.phase,
        }


def names(specs: Sequence[InstanceSpec]) -> tuple[str, ...]:
    return tuple(s.name for s in specs)


class Asgard:
    """The service's server groups and the strategies that move between them."""

    def __init__(self, fleet: Fleet, groups: dict[str, list[Group]]) -> None:
        self.fleet = fleet
        self.groups = groups  # service -> its groups, oldest first; plan instances are group v1
        self.outcomes: list[Outcome] = []
        self._current: dict[str, Outcome] = {}  # service -> its deploy under way
        self._tasks: set[asyncio.Task[object]] = set()  # the deploys under way, to end with the run
        # How a deploy cut short ends: UNFINISHED at the run's end, INTERRUPTED on a stop; "" while
        # the run goes on (a timeline rollback cancelling its deploy: the rollback says what happened).
        self.ending = ""

    def end(self, how: str) -> None:
        """The run is ending (`how`: UNFINISHED or INTERRUPTED): every deploy under way stops where
        it stands and ends so, with its phase, never as promoted."""
        self.ending = how
        for task in self._tasks:
            task.cancel()

    def _at(self, service: str, phase: str, step: str | None = None) -> None:
        outcome = self._current.get(service)
        if outcome is not None:
            outcome.phase = phase
            if step is not None:
                outcome.step = step

    async def _wait(self, seconds: float) -> None:
        if not await self.fleet.wait(seconds):
            raise RunEnding

    @classmethod
    def of_plan(cls, fleet: Fleet, specs: Sequence[InstanceSpec]) -> Asgard:
        groups: dict[str, list[Group]] = {}
        for spec in specs:
            service_groups = groups.setdefault(spec.service, [])
            match = next((g for g in service_groups if g.version == spec.version), None)
            if match is None:
                service_groups.append(Group(spec.version, [spec]))
            else:
                match.specs.append(spec)
        return cls(fleet, groups)

    def serving(self, service: str) -> Group:
        """The group taking the service's traffic now (the newest UP one)."""
        return next(g for g in reversed(self.groups[service]) if g.status == UP)

    def _event(
        self,
        kind: EventKind,
        service: str,
        versions: Sequence[str],
        specs: Sequence[InstanceSpec] = (),
        **details: object,
    ) -> None:
        self.fleet.emit(Event(self.fleet.now(), kind, service, tuple(versions), names(specs), details))

    # --- the strategies --------------------------------------------------------------------
    async def deploy(self, action: Deploy) -> Outcome:
        old = self.serving(action.service)
        outcome = Outcome(action.service, old.version, action.version, action.strategy_name, self.fleet.now())
        self.outcomes.append(outcome)
        self._event(
            EventKind.DEPLOY_START, action.service, (old.version, action.version), old.specs,
            strategy=action.strategy_name,
        )  # fmt: skip
        strategy = action.strategy
        self._current[action.service] = outcome
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
        try:
            if isinstance(strategy, Canary):
                await self._canary(action, old, strategy, outcome)
            elif isinstance(strategy, Rolling):
                await self._rolling(action, old, strategy)
                outcome.outcome = "promoted"
            elif isinstance(strategy, Highlander):
                await self._highlander(action, old)
                outcome.outcome = "promoted"
            else:
                assert isinstance(strategy, RedBlack)
                await self._red_black(
                    action.service, old, await self._new_group(action, old.specs), strategy.keep
                )
                outcome.outcome = "promoted"
        except RunEnding:
            pass  # the fleet's clock stopped: it ends as the run does, below
        finally:  # also when cancelled: the run ending (or a timeline rollback) cut it short
            self._cut_short(action, old, outcome)
            outcome.finished = self.fleet.now()
            if outcome.outcome == "in_progress":
                outcome.outcome = INTERRUPTED
            elif outcome.outcome not in ENDED_BY:
                outcome.phase, outcome.step = "done", ""  # promoted or rolled back: nothing stands
            if self._current.get(action.service) is outcome:
                del self._current[action.service]
            self._tasks.discard(task)  # type: ignore[arg-type]
        if outcome.resolution == "promoted" or outcome.outcome == "promoted":
            verdict = {"verdict": "inconclusive"} if outcome.outcome == "inconclusive" else {}
            self._event(EventKind.PROMOTE, action.service, (old.version, action.version), **verdict)
        return outcome

    def _cut_short(self, action: Deploy, old: Group, outcome: Outcome) -> None:
        """The run ends (or stops) before the deploy: say so, and where it stood."""
        if outcome.outcome != "in_progress" or not self.ending:
            return  # decided already, or a timeline rollback cancelled it and says what happened
        outcome.outcome = self.ending
        self._event(
            ENDED_BY[self.ending],
            action.service,
            (old.version, action.version),
            phase=outcome.to_json()["phase"],
        )

    async def _new_group(self, action: Deploy, like: Sequence[InstanceSpec]) -> Group:
        """Start a group of the new version beside the old one; UP once every instance registered."""
        self._at(action.service, "start-group")
        specs = await self.fleet.start_group(like, action.version)
        group = Group(action.version, list(specs), UP)
        await self.fleet.set_status(specs, UP)
        self.groups[action.service].append(group)
        self._event(EventKind.GROUP_UP, action.service, (action.version,), specs, size=len(specs))
        return group

    async def _take_out(self, service: str, group: Group) -> None:
        group.status = OUT_OF_SERVICE
        await self.fleet.set_status(group.specs, OUT_OF_SERVICE)

    async def _shift(self, service: str, versions: Sequence[str], **details: object) -> None:
        self._at(service, "shift")
        await self.fleet.refresh()
        self._event(EventKind.TRAFFIC_SHIFT, service, versions, **details)

    async def _retire(self, service: str, group: Group, reason: ExitReason) -> None:
        if group in self.groups[service]:
            self.groups[service].remove(group)
        await self.fleet.stop_group(group.specs, reason)
        self._event(EventKind.GROUP_STOPPED, service, (group.version,), group.specs, reason=reason.value)

    async def _red_black(self, service: str, old: Group, new: Group, keep: float) -> None:
        """The new group is UP: take the old one out of service, keep it (so a rollback is one
        status flip), then stop it."""
        self._at(service, "shift")
        await self._take_out(service, old)
        await self._shift(service, (old.version, new.version), to=new.version, share=1.0)
        self._at(service, "keep")
        await self._wait(keep)
        if old.status == OUT_OF_SERVICE and old in self.groups[service]:
            self._at(service, "retire")
            await self._retire(service, old, ExitReason.RETIRED)

    async def _rolling(self, action: Deploy, old: Group, strategy: Rolling) -> None:
        """Replace old instances in steps; each step's new instances are UP before the old ones
        they replace go out of service, so capacity never drops below the count minus one step."""
        service = action.service
        total = len(old.specs)
        new: Group | None = None
        done = 0
        for k, step in enumerate(strategy.steps, 1):
            self._at(service, "start-group", f"{k}/{len(strategy.steps)}")
            upto = min(total, max(done + 1, math.ceil(step * total)))
            batch = old.specs[: upto - done]
            if not batch:
                continue
            added = await self._new_group(action, batch)
            if new is None:
                new = added
            else:
                new.specs.extend(added.specs)
                self.groups[service].remove(added)
            await self.fleet.set_status(batch, OUT_OF_SERVICE)
            old.specs = old.specs[len(batch) :]
            share = round(upto / total, 4)
            await self._shift(service, (old.version, action.version), to=action.version, share=share)
            self._at(service, "drain")
            await self._wait(DRAIN)  # what was in flight to the old batch finishes
            self._at(service, "retire")
            await self.fleet.stop_group(batch, ExitReason.RETIRED)
            self._event(EventKind.GROUP_STOPPED, service, (old.version,), batch, reason="retired")
            done = upto
        if not old.specs and old in self.groups[service]:
            self.groups[service].remove(old)

    def _merge(self, service: str, new: Group) -> None:
        """A canary's promotion adds the rest of the new version to the canary's group."""
        groups = self.groups[service]
        first = next(g for g in groups if g.version == new.version)
        if first is not new:
            first.specs.extend(new.specs)
            groups.remove(new)

    async def _highlander(self, action: Deploy, old: Group) -> None:
        """There can be only one: the new group starts, then every older group stops at once."""
        new = await self._new_group(action, old.specs)
        older = [g for g in self.groups[action.service] if g is not new]
        self._at(action.service, "shift")
        for group in older:
            await self._take_out(action.service, group)
        await self._shift(
            action.service, [g.version for g in older] + [new.version], to=new.version, share=1.0
        )
        self._at(action.service, "retire")
        for group in older:
            await self._retire(action.service, group, ExitReason.RETIRED)

    async def _canary(self, action: Deploy, old: Group, strategy: Canary, outcome: Outcome) -> None:
        size = max(1, round(strategy.share * len(old.specs)))
        canary = await self._new_group(action, old.specs[:size])
        shares = {old.version: 1.0 - strategy.share, action.version: strategy.share}
        await self.fleet.set_shares(action.service, shares)
        await self._shift(
            action.service, (old.version, action.version), to=action.version, share=strategy.share
        )
        started = self.fleet.now()
        self._at(action.service, "judge")
        judge_spec = strategy.judge
        verdict: Verdict | None = None
        for at, level in zip(looks(judge_spec), look_alphas(judge_spec), strict=True):
            if not await self.fleet.wait(started + at - self.fleet.now()):
                return
            baseline = await self.fleet.window(action.service, old.version, started)
            candidate = await self.fleet.window(action.service, action.version, started)
            verdict = judge(baseline, candidate, judge_spec, level)
            record = {"after": round(self.fleet.now() - started, 3), **verdict.to_json()}
            outcome.judgements.append(record)
            self._event(
                EventKind.JUDGEMENT, action.service, (old.version, action.version), canary.specs, **record
            )
            if verdict.result == "fail":
                break
        assert verdict is not None
        undecided = verdict.result == "inconclusive"  # too few requests to judge: no detection
        if verdict.result != "pass" and not (undecided and judge_spec.inconclusive == "promote"):
            if not undecided:
                outcome.detected_after = self.fleet.now() - started
            await self._undo_canary(action.service, old, canary, verdict.result)
            outcome.outcome = "inconclusive" if undecided else "rolled_back"
            outcome.resolution = "rolled_back"
            return
        await self.fleet.set_shares(action.service, {})
        rest = old.specs[size:]
        if rest:
            more = await self._new_group(action, rest)
            self._merge(action.service, more)
        await self._red_black(action.service, old, canary, strategy.keep)
        outcome.outcome = "inconclusive" if undecided else "promoted"
        outcome.resolution = "promoted"

    async def _undo_canary(self, service: str, old: Group, canary: Group, verdict: str) -> None:
        self._at(service, "rollback")
        await self._take_out(service, canary)
        await self.fleet.set_shares(service, {})
        await self._shift(service, (old.version, canary.version), to=old.version, share=1.0)
        versions = (canary.version, old.version)
        self._event(EventKind.ROLLBACK, service, versions, canary.specs, by="judge", verdict=verdict)
        await self._retire(service, canary, ExitReason.ROLLED_BACK)

    async def rollback(self, service: str) -> None:
        """Bring the previous group back UP and stop the current one; if the previous group is
        already gone, start a fresh one of its version first."""
        groups = self.groups[service]
        current = self.serving(service)
        previous = next(
            (g for g in reversed(groups) if g is not current and g.version != current.version), None
        )
        if previous is None:
            history = [o for o in self.outcomes if o.service == service and o.to_version == current.version]
            if not history:
                return
            like = current.specs
            previous = Group(
                history[-1].from_version, await self.fleet.start_group(like, history[-1].from_version)
            )
            groups.insert(0, previous)
        previous.status = UP
        await self.fleet.set_status(previous.specs, UP)
        await self._take_out(service, current)
        await self.fleet.set_shares(service, {})
        await self._shift(service, (current.version, previous.version), to=previous.version, share=1.0)
        self._event(
            EventKind.ROLLBACK, service, (current.version, previous.version), current.specs, by="timeline"
        )
        for outcome in self.outcomes:
            if outcome.service == service and outcome.to_version == current.version:
                outcome.outcome = "rolled_back"
                if outcome.resolution is not None:  # a canary's: the old version serves again
                    outcome.resolution = "rolled_back"
        await self._retire(service, current, ExitReason.ROLLED_BACK)
