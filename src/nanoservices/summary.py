"""The run summary: what was started, what traffic did, and proof that nothing went missing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nanoservices.config import RunConfig
from nanoservices.outputs.accounting import MAX_PROBLEM_LINES, hops_from, reconcile
from nanoservices.outputs.eureka import eureka_lines
from nanoservices.outputs.histogram import RELATIVE_ERROR
from nanoservices.outputs.lag_outputs import lag_lines, lag_summary, write_lag
from nanoservices.outputs.phases import phase_line, phases
from nanoservices.outputs.series import write_series
from nanoservices.packages.capabilities import traffic_sources
from nanoservices.plan import DeploymentPlan
from nanoservices.result import Accounted, RunResult
from nanoservices.runtime.lost_counts import issued_unknown, lost_lines
from nanoservices.runtime.sources import limit_phrase as worker_limit
from nanoservices.runtime.sources import worker_lines, worker_rows
from nanoservices.runtime.stats import latency_quantile


@dataclass
class RunSummary:
    arch: str
    out_dir: str
    instances_planned: int
    instances_started: int
    instances_stopped: int
    instances_killed: int
    hosts: int
    registries: int
    requests_issued: int
    requests_completed: int
    requests_failed: dict[str, int]
    requests_in_flight: int
    messages_delivered: int
    messages_remote: int
    ticks_skipped: int
    latency_buckets: dict[str, int]
    requested_rate: float
    traffic_seconds: float
    batches: int  # batches of messages sent between hosts
    one_way_dropped: int
    late_responses: int
    nodes: int
    edges: int
    forgets: int
    done_records: int
    wall_seconds: float
    timings: dict[str, float]
    events: list[dict[str, Any]]
    transport: str = "socket"
    refused: dict[str, int] = field(default_factory=dict)  # data-plane connections refused, by reason
    ticks_throttled: int = 0  # ticks skipped because --max-in-flight requests were outstanding
    max_in_flight: int = 0
    instances_uncounted: int = 0  # instances on hosts whose counts died with them (they did start)
    host_memory_bytes: int = 0  # proportional set size of all host processes, after discovery
    placement: list[dict[str, Any]] = field(default_factory=list)  # host, location, Ray node, instances
    sources: list[dict[str, Any]] = field(default_factory=list)  # traffic source workers (runtime/sources.py)
    spans: dict[str, Any] = field(
        default_factory=dict
    )  # created, and per exporter exported/dropped by reason
    hosts_died: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    interrupted_phase: str = ""  # "start-up" when stopped before traffic began
    files: list[str] = field(default_factory=list)
    report_problem: str = ""  # why report.html could not be written ("" when it was)
    timeline_error: str = ""  # a fault in the scenario timeline (the run exits 1)
    deploys: list[dict[str, Any]] = field(default_factory=list)  # scenario.asgard.Outcome.to_json()
    requests_by_version: dict[str, dict[str, int]] = field(default_factory=dict)  # service -> version -> n
    # Per hop between hosts: both ends' counts (outputs/accounting.py), and what does not add up.
    hops: list[dict[str, Any]] = field(default_factory=list)
    accounting_problems: list[str] = field(default_factory=list)
    unchecked_hosts: list[int] = field(default_factory=list)  # hosts whose counts died with them
    # Per such host: why, what ran there and its last live figures (runtime/lost_counts.py); the
    # requests it issued by them are in requests_issued, and in requests_lost_with_hosts.
    counts_lost: list[dict[str, Any]] = field(default_factory=list)
    requests_lost_with_hosts: int = 0
    # Per incident whose change did not take hold on every host: which hosts applied it, which failed
    incidents_failed: list[dict[str, Any]] = field(default_factory=list)
    # fsm: the opening moves the supervisor sent, how many the hosts counted delivered, in seconds
    fsm: dict[str, float] | None = None
    # Per Simian Army incident: entry requests before, during and after it, and its recovery time
    phases: list[dict[str, Any]] = field(default_factory=list)
    # The entry requests per second of the traffic they ended in: [second, ended, of them failed]
    entry_seconds: list[list[int]] = field(default_factory=list)
    # Clients that cope: retries on the next server, servers blacked out, breaker transitions by
    # new state, and the settings they ran with (--retries, --lease-renewal).
    clients: dict[str, Any] = field(default_factory=dict)
    # Eureka's ground truth (outputs/eureka.py): leases evicted and held back, summed over the
    # registries (each evicts its own replica), and every eviction round's time into the traffic.
    eureka: dict[str, Any] = field(default_factory=dict)
    # Seconds the traffic sources ticked, summed over them, and how many there are: the achieved
    # rate is per second of ticking, not of the run (which also holds their hosts' start-up).
    source_seconds: float = 0.0
    traffic_sources: int = 0
    # The scenario's chaos actions --no-chaos left out: kind, target, at (until), origin in the file
    skipped_actions: list[dict[str, Any]] = field(default_factory=list)
    # How late the hosts' timers fired (outputs/lag_outputs.py): episodes over the threshold, and
    # the share of the traffic's seconds inside one (latency there is the machine's, not the model's)
    simulator_lag: dict[str, Any] = field(default_factory=dict)

    @property
    def requests_failed_total(self) -> int:
        return sum(self.requests_failed.values())

    @property
    def accounted(self) -> Accounted:
        """HOLDS: every issued request ended or is held in flight, and every hop's two ends agree.
        BROKEN: something does not add up (a host's requests died with it, too). UNCHECKED: what
        was checked adds up, but some host's counts died with it, so its hops were not checked."""
        if self.accounting_problems:
            return Accounted.BROKEN
        return Accounted.UNCHECKED if self.unchecked_hosts else Accounted.HOLDS

    @property
    def messages_lost(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for hop in self.hops:
            for reason, n in hop["lost"].items():
                out[reason] = out.get(reason, 0) + n
        return out

    @property
    def spans_dropped(self) -> int:
        exporters = self.spans.get("exporters", {})
        lanes = [e for name, e in exporters.items() if not name.startswith("record:")]  # not record sinks
        return sum(sum(e.get("dropped", {}).values()) for e in lanes)

    def span_lines(self) -> list[str]:
        if not self.spans:
            return []
        out = [f"  spans: {self.spans.get('created', 0):,} created"]
        for name, counts in sorted(self.spans.get("exporters", {}).items()):
            dropped = counts.get("dropped", {})
            reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items()) if v) or "none"
            exported = counts.get("exported", 0)
            if name.startswith("record:"):  # a record sink (verify's expected record), not an export
                out.append(
                    f"    {name[len('record:') :]} record: {exported:,} recorded, "
                    f"{sum(dropped.values()):,} dropped ({reasons})"
                )
                continue
            out.append(f"    {name}: {exported:,} exported, {sum(dropped.values()):,} dropped ({reasons})")
        return out

    def _data_plane(self) -> str:
        if self.transport == "ray":
            return "Ray actor calls"
        refused = ", ".join(f"{k} {v:,}" for k, v in sorted(self.refused.items()) if v)
        return f"direct sockets, {'connections refused: ' + refused if refused else 'none refused'}"

    def _within_hosts(self) -> int:
        """Of the hops' messages, those between instances of one host (its self-hop)."""
        return sum(h["sent"] for h in self.hops if h["from"] == h["to"])

    def _problem_lines(self) -> list[str]:
        """What does not add up, with where; at most MAX_PROBLEM_LINES lines."""
        problems = self.accounting_problems
        lines = [f"    {p}" for p in problems[:MAX_PROBLEM_LINES]]
        if len(problems) > MAX_PROBLEM_LINES:
            lines.append(f"    and {len(problems) - MAX_PROBLEM_LINES:,} more (summary.json has every hop)")
        described = {int(r["host"]) for r in self.counts_lost}
        lines += [f"    {line}" for line in lost_lines(self.counts_lost)]
        others = [h for h in self.unchecked_hosts if h not in described]
        if others:
            hosts = ", ".join(str(h) for h in others)
            lines.append(f"    not checked: the hops of host(s) {hosts}, whose counts died with them")
        return lines

    def _check(self) -> str:
        """The requests line's verdict."""
        accounted = self.accounted
        if accounted is Accounted.HOLDS:
            return "accounted for"
        if accounted is Accounted.BROKEN:
            return "NOT accounted for"
        hosts = ", ".join(str(h) for h in self.unchecked_hosts)
        return f"not checked on host(s) {hosts}, whose counts died with them"

    def client_lines(self) -> list[str]:
        """One line when a client retried, blacked out a server or changed a breaker's state."""
        clients = self.clients
        changes = clients.get("breaker_changes", {})
        renewals = clients.get("renewals_failed", 0)
        if not (clients.get("retries") or clients.get("blackouts") or changes or renewals):
            return []
        breakers = ", ".join(f"{state} {n:,}" for state, n in sorted(changes.items())) or "none"
        dropped = clients.get("breaker_events_dropped", 0)
        unrecorded = f" ({dropped:,} not in events.jsonl: a host's buffer was full)" if dropped else ""
        failed = f", {renewals:,} lease renewals failed (a registry did not answer)" if renewals else ""
        return [
            f"  clients: {clients['retries']:,} retries on the next server (--retries {clients['allowed']}), "
            f"{clients['blackouts']:,} servers blacked out, breaker changes: {breakers}{unrecorded}{failed}"
        ]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests_failed_total"] = self.requests_failed_total
        data["accounted"] = self.accounted.to_json()
        data["spans_dropped"] = self.spans_dropped
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def lines(self) -> list[str]:
        failed = ", ".join(f"{k} {v:,}" for k, v in sorted(self.requests_failed.items())) or "none"
        check = self._check()
        died = (
            f" + {self.requests_lost_with_hosts:,} issued on hosts whose counts died (their ends unknown)"
            if self.requests_lost_with_hosts
            else ""
        )
        lost_by_reason = self.messages_lost
        lost = ", ".join(f"{k} {v:,}" for k, v in sorted(lost_by_reason.items())) or "none"
        hop_sent = sum(h["sent"] for h in self.hops)
        hop_received = sum(h["received"] for h in self.hops)
        out = [
            f"nanoservices run {self.arch}: {self.wall_seconds:.1f} s wall time, output in {self.out_dir}",
            f"  instances: {self.instances_started + self.instances_uncounted:,} started, "
            f"{self.instances_stopped:,} stopped, {self.instances_killed:,} killed by chaos"
            + (f", {self.instances_uncounted:,} died with their hosts" if self.instances_uncounted else "")
            + f", on {self.hosts:,} hosts (Ray actors) + {self.registries} Eureka registries",
            f"  requests: {self.requests_issued:,} issued = {self.requests_completed:,} completed "
            f"+ {self.requests_failed_total:,} failed ({failed}) + {self.requests_in_flight:,} in flight "
            f"at shutdown{died}: {check}",
            *self._problem_lines(),
            f"  hops: {hop_sent:,} messages sent ({self._within_hosts():,} within hosts) "
            f"= {hop_received:,} received "
            f"+ {sum(lost_by_reason.values()):,} lost ({lost}), counted at both ends of "
            f"{len(self.hops):,} hops",
            f"  messages: {self.messages_delivered:,} delivered ({self.messages_remote:,} between hosts "
            f"in {self.batches:,} batches over {self._data_plane()}), "
            f"{self.one_way_dropped:,} one-way dropped, {self.late_responses:,} late responses",
            f"  graph: {self.nodes:,} nodes, {self.edges:,} edges, {self.forgets:,} forgets, "
            f"{self.done_records:,} done records",
        ]
        if self.fsm is not None:
            from nanoservices.runtime.fsm import delivered_line

            fsm = self.fsm
            out.append("  " + delivered_line(int(fsm["sent"]), int(fsm["delivered"]), fsm["seconds"]))
            chatter = self.messages_delivered - int(fsm["delivered"])
            out.append(
                f"    the messages and hops above include these {int(fsm['delivered']):,} opening moves, "
                f"which the fsm controller sent over Ray calls; {chatter:,} went from pirate to pirate"
            )
        elif self.traffic_seconds:
            if self.source_seconds > 0 and self.traffic_sources:
                achieved = self.requests_issued * self.traffic_sources / self.source_seconds
            else:
                achieved = self.requests_issued / self.traffic_seconds
            line = f"  traffic: {achieved:,.0f} requests/s achieved of {self.requested_rate:,.0f} asked"
            if self.source_seconds > 0 and self.traffic_sources:  # the real traffic time, not -d
                line += f", over {self.source_seconds / self.traffic_sources:.1f} s of traffic"
            reasons = []
            if self.ticks_throttled:
                reasons.append(
                    f"{self.ticks_throttled:,} ticks skipped with --max-in-flight {self.max_in_flight} "
                    "requests outstanding per denominator: raise --max-in-flight"
                )
            if self.ticks_skipped:
                reasons.append(f"{self.ticks_skipped:,} ticks skipped: the hosts could not keep up")
            if reasons and worker_limit(self.sources):
                reasons.append(worker_limit(self.sources))
            if reasons:
                line += f" ({'; '.join(reasons)})"
            out.append(line)
        out += worker_lines(self.sources, self.requested_rate)
        if self.latency_buckets:
            figures = ", ".join(
                f"p{round(q * 100)} < {latency_quantile(self.latency_buckets, q) * 1000:g}"
                for q in (0.5, 0.9, 0.99)
            )
            out.append(f"  latency of completed requests (ms, within {RELATIVE_ERROR:.2%}): {figures}")
        out += self.client_lines()
        out += lag_lines(self.simulator_lag)
        out += eureka_lines(self.eureka)
        out += self.span_lines()
        if "registered" in self.timings:
            total_mib = self.host_memory_bytes / (1 << 20)
            per_instance = total_mib / max(1, self.instances_started)
            out.append(
                f"  all instances registered {self.timings['registered']:.2f} s after start; "
                f"hosts use {total_mib:,.0f} MiB ({per_instance:.2f} MiB per instance)"
            )
        for event in self.events:
            out.append(f"  {event['event']}: {event['instance']} ({event['method']}) at {event['at']:.1f} s")
        for deploy in self.deploys:
            detected = (
                f", detected after {deploy['detected_after']:.1f} s"
                if deploy["detected_after"] is not None
                else ""
            )
            cut_short = deploy["outcome"] in ("unfinished", "interrupted") and deploy.get("phase")
            where = f" at {deploy['phase']}" if cut_short else ""
            if deploy["outcome"] == "inconclusive" and deploy.get("resolution"):  # what its policy did
                where = f" ({str(deploy['resolution']).replace('_', ' ')})"
            out.append(
                f"  deploy {deploy['service']} {deploy['from_version']} -> {deploy['to_version']} "
                f"({deploy['strategy']}): {deploy['outcome']}{where}{detected}, {deploy['started']:.1f}-"
                f"{deploy['finished']:.1f} s"
            )
        out += [phase_line(phase) for phase in self.phases]
        out += [_not_applied_line(incident) for incident in self.incidents_failed]
        if self.timeline_error:
            out.append(f"  timeline failed: {self.timeline_error}")
        if self.hosts_died:
            died = ", ".join(f"host {h} ({error})" for h, error in sorted(self.hosts_died.items()))
            out.append(f"  hosts died outside chaos: {len(self.hosts_died)}: {died}")
        if self.spans_dropped:
            out.append(f"  warning: {self.spans_dropped:,} spans were dropped; see the reasons above")
        if self.interrupted and self.interrupted_phase == "start-up":
            out.append("  interrupted during start-up: no traffic ran")
        elif self.interrupted:
            out.append("  interrupted: the run was stopped early and shut down in order")
        return out


def by_version(series: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Requests each service's versions answered, from the per-second series."""
    out: dict[str, dict[str, int]] = {}
    for key, row in series.items():
        _second, service, version, _zone = key.split("|")
        versions = out.setdefault(service, {})
        versions[version] = versions.get(version, 0) + row["requests"]
    return out


def entry_seconds(series: dict[str, dict[str, Any]]) -> list[list[int]]:
    """[second, ended, failed] per second with an entry request, from the hosts' summed series."""
    return sorted([int(second), row["requests"], row["errors"]] for second, row in series.items())


def _not_applied_line(incident: dict[str, Any]) -> str:
    """An incident whose change (or whose end) did not take hold on every host, and where not."""
    failed = incident.get("failed_hosts", {})
    ended = incident.get("end_failed_hosts", {})
    parts = []
    if failed:
        where = ", ".join(f"host {h} ({why})" for h, why in failed.items())
        parts.append(f"not applied on {where}; applied on {len(incident.get('applied_hosts', [])):,} hosts")
    if ended:
        parts.append("its end not applied on " + ", ".join(f"host {h} ({why})" for h, why in ended.items()))
    return f"  {incident['kind']} {incident['target']} at {float(incident['at']):.1f} s: {'; '.join(parts)}"


def _lost_requests(records: list[dict[str, Any]]) -> list[str]:
    """A problem per lost host whose traffic source's requests cannot be accounted for."""
    problems = []
    for r in issued_unknown(records):
        if r["issued"] is None:
            problems.append(
                f"entry requests: host {r['host']} runs a traffic source and its counts died before any "
                "live figures of it were seen: what it issued is unknown"
            )
        else:
            problems.append(
                f"entry requests: {r['issued']:,} issued on host {r['host']} (by its last live figures, at "
                f"{r['seen_at']:.1f} s) died with its counts: how they ended is unknown"
            )
    return problems


def chaos_lines(result: RunResult) -> list[dict[str, Any]]:
    """Chaos Monkey's kills as summary.json lists them: instance, seconds into the run, method."""
    return [
        {"event": e.kind.value, "instance": e.instances[0], "at": e.at, "method": e.details.get("method", "")}
        for e in result.kills()
    ]


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.1f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


def summarise(plan: DeploymentPlan, config: RunConfig, result: RunResult, wall: float) -> RunSummary:
    stats = result.stats
    graph = result.graph
    killed = result.instances_killed
    hops = hops_from(stats.get("hops", {}))
    failed = dict(stats.get("requests_failed", {}))
    lost = list(result.counts_lost)
    accounting = reconcile(
        hops,
        issued=stats.get("requests_issued", 0),
        ended=stats.get("requests_completed", 0) + sum(failed.values()),
        in_flight=stats.get("requests_in_flight", 0),
        unchecked_hosts=[*result.unchecked_hosts, *(int(r["host"]) for r in lost)],
    )
    lost_requests = sum(int(r["issued"] or 0) for r in lost)
    summary = RunSummary(
        arch=plan.arch,
        out_dir=str(config.out_dir),
        instances_planned=len(plan.instances),
        instances_started=stats.get("instances_started", 0),
        instances_stopped=stats.get("instances_stopped", 0),
        instances_killed=killed + sum(1 for e in result.kills() if e.details.get("method") == "cancel"),
        hosts=result.hosts,
        registries=len(plan.registries),
        requests_issued=stats.get("requests_issued", 0) + lost_requests,
        requests_completed=stats.get("requests_completed", 0),
        requests_failed=failed,
        requests_in_flight=stats.get("requests_in_flight", 0),
        messages_delivered=stats.get("messages_delivered", 0),
        messages_remote=stats.get("messages_remote", 0),
        batches=stats.get("batches_sent", 0),
        transport=config.transport,
        refused=dict(stats.get("refused", {})),
        ticks_skipped=stats.get("ticks_skipped", 0),
        ticks_throttled=stats.get("ticks_throttled", 0),
        max_in_flight=config.max_in_flight,
        instances_uncounted=result.instances_uncounted,
        latency_buckets=dict(stats.get("latency_buckets", {})),
        requested_rate=config.rate * len(traffic_sources(plan)),
        source_seconds=float(stats.get("source_seconds", 0.0)),
        traffic_sources=len(stats.get("sources", {})) or len(traffic_sources(plan)),
        sources=worker_rows(stats.get("sources", {}), result.placement),
        traffic_seconds=result.timings.get("run_seconds", 0.0),
        one_way_dropped=stats.get("one_way_dropped", 0),
        late_responses=stats.get("late_responses", 0),
        nodes=graph["nodes"],
        edges=graph["edges"],
        forgets=graph["forgets"],
        done_records=graph["done"],
        wall_seconds=wall,
        timings=dict(result.timings),
        events=chaos_lines(result),
        hosts_died=dict(result.hosts_died),
        spans=stats.get("spans", {}),
        host_memory_bytes=result.host_memory_bytes,
        placement=result.placement,
        interrupted=result.interrupted,
        interrupted_phase=result.phase,
        hops=[hop.to_json() for hop in hops],
        deploys=list(result.deploys),
        timeline_error=result.timeline_error,
        requests_by_version=by_version(stats.get("series", {})),
        accounting_problems=[*accounting.problems, *_lost_requests(lost)],
        unchecked_hosts=list(accounting.unchecked_hosts),
        counts_lost=lost,
        requests_lost_with_hosts=lost_requests,
        incidents_failed=[i for i in result.incidents if i.get("failed_hosts") or i.get("end_failed_hosts")],
        fsm=result.fsm,
        phases=phases(result.incidents, stats.get("entry_series", {}), stats.get("series", {})),
        entry_seconds=entry_seconds(stats.get("entry_series", {})),
        clients={
            "retries": stats.get("retries", 0),
            "blackouts": stats.get("blackouts", 0),
            "breaker_changes": dict(stats.get("breaker_changes", {})),
            "breaker_events_dropped": stats.get("breaker_events_dropped", 0),
            "renewals_failed": stats.get("renewals_failed", 0),
            "allowed": config.retries,
            "lease_renewal": config.lease_renewal,
        },
        eureka=dict(result.eureka),
        skipped_actions=list(result.skipped_actions),
        simulator_lag=lag_summary(stats.get("lag", {}), result.timings.get("run_seconds", 0.0)),
        files=[*graph["files"], *result.flow_files],
    )
    if config.out_dir is not None:  # none: a library caller (or a test) wants the figures only
        out = Path(config.out_dir)
        summary.files += [str(p) for p in write_lag(out, stats.get("lag", {}), summary.simulator_lag)]
        summary.files += [str(p) for p in write_series(out, stats)]
        _add_report(summary, out)
        summary.files.append(str(out / "summary.json"))
        summary.write(out / "summary.json")  # once, last: it lists every file the run wrote
    return summary


def _add_report(summary: RunSummary, out: Path) -> None:
    """report.html from the summary in hand (summary.json is written after it, once, listing it);
    a run whose files cannot make a page still succeeds, and says why."""
    from nanoservices.outputs.report import write_report
    from nanoservices.problems import InputError

    try:
        summary.files.append(str(write_report(out, summary.to_json())))
    except InputError as exc:
        summary.report_problem = str(exc)
