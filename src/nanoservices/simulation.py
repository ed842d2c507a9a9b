"""`run()`: simulate an architecture on Ray and return what happened. The library entry point the
CLI calls; usable from a notebook (`from nanoservices import run`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from nanoservices.config import RunConfig
from nanoservices.plan import DeploymentPlan
from nanoservices.problems import InputError, Problem
from nanoservices.progress import LiveTotals, Progress
from nanoservices.result import RunResult
from nanoservices.summary import RunSummary, summarise

STOP_GRACE = 30.0  # seconds a stopping run may take to shut down in order before it is killed
LIVE_EVERY = 1.0  # seconds between two live progress figures


class NotEnoughMemory(RuntimeError):
    pass


def default_out_dir(arch: str) -> Path:
    return Path("runs") / f"{arch}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run(
    config: RunConfig,
    plan: DeploymentPlan | None = None,
    on_progress: Callable[[str], None] | None = None,
    on_live: Callable[[Progress], None] | None = None,
) -> RunSummary:
    """Simulate `config`'s architecture. `on_progress` gets each progress and event line once;
    `on_live` a Progress about once a second while traffic runs."""
    started_at = time.time()
    if plan is None:
        from nanoservices.catalog import resolve_plan

        plan = resolve_plan(config.arch, config.scale, config.regions, config.step)
    from nanoservices.scenario.binding import run_scenario, skipped_chaos, skipped_line, with_running_profiles

    _check_timeouts(plan, config)
    scenario = run_scenario(config.scenario_file, config.deploys, plan, config.duration, config.rate)
    plan, scenario = with_running_profiles(plan, scenario)  # `versions:` of a starting version: from t=0
    if scenario is not None and scenario.schedules(config.rate):  # `load:` actions: each source's rate
        config = config.model_copy(update={"load": scenario.schedules(config.rate)})
    skipped = [] if config.chaos else skipped_chaos(scenario)
    if skipped and on_progress is not None:
        on_progress(skipped_line(skipped, str(config.scenario_file)))
    if config.out_dir is None:
        config = config.model_copy(update={"out_dir": default_out_dir(plan.arch)})
    _check_out_dir(config.out_dir)
    if config.tracing is not None and config.tracing.endpoints:  # the expected record, for verify
        tracing = config.tracing.model_copy(update={"expected_dir": str(config.out_dir)})
        config = config.model_copy(update={"tracing": tracing})
    began: list[bool] = []  # set once the supervisor runs: from then on it writes the files
    try:
        result = _simulate(plan, config, started_at, scenario, on_progress, on_live, began)
    except KeyboardInterrupt:  # before the supervisor ran (Ray starting): still every file, no traffic
        if began:
            raise  # a second Ctrl-C while it shut down: killed, as the first one's line said
        if on_progress is not None:
            on_progress("interrupted during start-up: no traffic ran")
        result = _not_started(plan, config)
    result.skipped_actions = skipped
    summary = summarise(plan, config, result, time.time() - started_at)  # writes every file, once
    if summary.report_problem and on_progress is not None:
        on_progress(f"report.html not written: {summary.report_problem}")
    return summary


def _simulate(
    plan: DeploymentPlan,
    config: RunConfig,
    started_at: float,
    scenario: Any,
    on_progress: Callable[[str], None] | None,
    on_live: Callable[[Progress], None] | None,
    began: list[bool],
) -> RunResult:
    """Start Ray (or join it), run the supervisor, and hand back its result."""
    from nanoservices.runtime.connection import ray_session

    with ray_session(config.address) as ray:
        _check_memory(ray, plan, config)
        _check_zones(ray, plan)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from nanoservices.runtime.supervisor import Supervisor

        # The supervisor (and the Edda it creates) run on the driver's node, so the files they
        # write land where the user ran the command, in cluster mode too.
        local_node = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        supervisor = Supervisor.options(scheduling_strategy=local_node).remote(
            plan, config, started_at, local_node, scenario
        )
        result_ref = supervisor.run.remote()
        began.append(True)
        report = _ProgressReporter(ray, supervisor, on_progress, on_live)
        try:
            result = _wait(ray, result_ref, None, report)
        except KeyboardInterrupt:
            report.say("interrupted: shutting down in order (Ctrl-C again to kill)")
            supervisor.stop.remote()
            result = _wait(ray, result_ref, STOP_GRACE, report)
        finally:
            ray.kill(supervisor, no_restart=True)
    return result  # type: ignore[no-any-return]


def _not_started(plan: DeploymentPlan, config: RunConfig) -> RunResult:
    """A run stopped before its supervisor started: an empty graph and event log, and the
    result of a start-up interrupted with nothing up, so the run's files are all written."""
    from nanoservices.result import not_started
    from nanoservices.runtime.core_end import empty_graph
    from nanoservices.scenario.events import EventLog

    EventLog(Path(str(config.out_dir))).close()
    return not_started(plan.arch, len(plan.instances), 0, empty_graph(plan.arch, config))


class _ProgressReporter:
    """Relays the supervisor's progress lines to the caller, each once, and its live figures as
    Progress values about once a second."""

    def __init__(
        self,
        ray: Any,
        supervisor: Any,
        on_progress: Callable[[str], None] | None,
        on_live: Callable[[Progress], None] | None = None,
    ) -> None:
        self._ray, self._supervisor, self._on_progress = ray, supervisor, on_progress
        self._on_live = on_live
        self._seen = 0
        self._totals = LiveTotals()
        self._next_live = 0.0  # time.monotonic() of the next live poll

    def say(self, line: str) -> None:
        if self._on_progress is not None:
            self._on_progress(line)

    def poll(self) -> None:
        if self._on_progress is not None:
            ready, _ = self._ray.wait([self._supervisor.progress.remote()], timeout=1.0)
            if ready:
                lines = self._ray.get(ready[0])
                for line in lines[self._seen :]:
                    self._on_progress(line)
                self._seen = len(lines)
        # Asked even with no one to show them to: the supervisor keeps every host's last live
        # figures, what the summary still knows of a host whose counts die with it.
        if time.monotonic() >= self._next_live:
            self._next_live = time.monotonic() + LIVE_EVERY
            ready, _ = self._ray.wait([self._supervisor.live.remote()], timeout=1.0)
            if ready:
                answer = self._ray.get(ready[0])
                if self._on_live is not None and answer["elapsed"] > 0 and not answer["stopping"]:
                    self._on_live(self._totals.update(answer))  # while traffic runs


def _wait(ray: Any, ref: Any, timeout: float | None, report: _ProgressReporter) -> Any:
    """ray.get in short slices, so Ctrl-C reaches the driver promptly and progress shows."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        ready, _ = ray.wait([ref], timeout=0.5)
        if ready:
            report.poll()
            return ray.get(ref)
        report.poll()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("the run did not shut down in time")


def _check_out_dir(out: Path | None) -> None:
    assert out is not None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            [Problem("--out", str(out), f"cannot create the output directory: {exc.strerror}")]
        ) from None


class ZonesMissing(RuntimeError):
    pass


def _check_timeouts(plan: DeploymentPlan, config: RunConfig) -> None:
    services = {s.service for s in plan.instances}
    unknown = sorted(set(config.timeouts) - services)
    if unknown:
        raise InputError(
            [
                Problem(
                    "--timeout",
                    name,
                    f"{plan.arch} has no service {name!r}; it has {', '.join(sorted(services))}",
                )
                for name in unknown
            ]
        )


def _check_zones(ray: Any, plan: DeploymentPlan) -> None:
    from nanoservices.runtime.zones import missing_locations

    missing = missing_locations(plan, ray.cluster_resources())
    if missing:
        raise ZonesMissing(
            f"the cluster defines zone resources but none of {', '.join(missing)}; add node types for them "
            "(see cluster/) or lower --regions"
        )


def _check_memory(ray: Any, plan: DeploymentPlan, config: RunConfig) -> None:
    from nanoservices.runtime.placement import MIB, memory_needed, smallest_fitting_per_host

    available = float(ray.cluster_resources().get("memory", 0))
    needed = memory_needed(plan, config.instances_per_host)
    if available and needed > available:
        fits = smallest_fitting_per_host(plan, available)
        hint = f"try --instances-per-host {fits}" if fits else "no packing fits: lower --scale"
        raise NotEnoughMemory(
            f"not enough memory: {len(plan.instances):,} instances at --instances-per-host "
            f"{config.instances_per_host} need about {needed // MIB:,} MiB of Ray actors, the cluster has "
            f"{int(available) // MIB:,} MiB; {hint}"
        )
