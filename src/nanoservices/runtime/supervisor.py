"""The Supervisor actor: a thin Ray shell around the run core (runtime/core.py) over Ray actors
(runtime/ray_cluster.py). A Ray actor so that in cluster mode the orchestration lives inside the
cluster, next to what it orchestrates; the driver asks it for progress lines and live figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ray

from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan
from nanoservices.result import RunResult
from nanoservices.runtime.core import SPAN_FLUSH_BOUND, RunCore
from nanoservices.runtime.core_end import LiveFigures
from nanoservices.runtime.ray_cluster import RayCluster
from nanoservices.scenario.actions import Scenario
from nanoservices.scenario.events import EventBus, EventLog, ProgressLines
from nanoservices.tracing.event_spans import EventSpans


@ray.remote(num_cpus=0, enable_task_events=False)
class Supervisor:
    def __init__(
        self,
        plan: DeploymentPlan,
        config: RunConfig,
        started_at: float,
        local_node: Any = None,
        scenario: Scenario | None = None,
    ) -> None:
        self.started_at = started_at
        self._progress: list[str] = []
        # events.jsonl opened first: a run stopped during start-up still leaves the file
        self._bus = EventBus([EventLog(Path(str(config.out_dir))), ProgressLines(self._say)])
        self._spans: EventSpans | None = None
        if config.tracing is not None:  # each event a span of service asgard, on the run's clock
            self._spans = EventSpans(config.tracing, plan.arch, lambda: self.core.run_started)
            self._bus.subscribe(self._spans)
        cluster = RayCluster(plan, config, local_node)
        self.core = RunCore(plan, config, cluster, scenario, self._bus, self._say, self._span_counts)
        self._live = LiveFigures(self.core)

    def _span_counts(self) -> list[dict[str, object]]:
        """At shutdown, after the last event: the event spans' counts, for span accounting."""
        return self._spans.counts(SPAN_FLUSH_BOUND) if self._spans is not None else []

    def _say(self, line: str) -> None:
        self._progress.append(f"[{time.time() - self.started_at:6.1f}s] {line}")

    def progress(self) -> list[str]:
        """Lines describing what happened since the run began (the driver prints the new ones)."""
        return self._progress

    async def live(self, timeout: float = 0.5) -> dict[str, object]:
        """The live progress display's figures (runtime/core_end.py's LiveFigures)."""
        return await self._live.ask(timeout, self.started_at)

    def stop(self) -> None:
        """Ctrl-C or an API caller: end the run early, but still shut down in order."""
        self.core.stop()

    async def run(self) -> RunResult:
        try:
            return await self.core.run(self.started_at)
        finally:
            self._bus.close()
