"""Read every expected trace (or a seeded sample) back from a backend, in bounded memory.

1. The run's record files are hash-partitioned by trace id into bucket files (raw lines, no parsing), so a
   bucket holds whole traces and at most ~BUCKET_BYTES of them.
2. One bucket at a time: its traces are asked for on a thread pool, round after round, until each is
   complete or the deadline (`wait` seconds from the start) passes; every trace is asked at least once.
3. Each trace's final answer is compared (compare.py) and only counters, the first LISTED problems and
   trace ids, and one float per trace (time to visible) are kept.

Time to visible is when a trace was first seen complete minus its last span's end (both wall clock, as the
spans' own timestamps are in a traced run): for a verify long after the run it is the trace's age.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nanoservices.problems import InputError, Problem
from nanoservices.tracing.expected import ExpectedSpan, Torn, decode, expected_files
from nanoservices.verify.backends import Backend
from nanoservices.verify.compare import PROBLEMS, SpanProblem, Tally, compare, complete
from nanoservices.verify.model import BackendError, FoundSpan, Keeps

Settle = Callable[[str, list[ExpectedSpan], list[FoundSpan] | None, float], None]

BUCKET_BYTES = 8 * 1024 * 1024  # of record lines per bucket: ~40,000 spans held at once
LISTED = 1_000  # problem spans and unfound trace ids kept by name in verify.json
NAMED = 5  # unfound trace ids named on the terminal


@dataclass
class Outcome:
    """What a verify found; `intact` is the exit status's question."""

    backend: str
    url: str
    sample: float
    seed: int
    traces_expected: int = 0
    traces_intact: int = 0
    traces_not_found: int = 0
    traces_with_problems: int = 0
    services: dict[str, Tally] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    problems: list[SpanProblem] = field(default_factory=list)
    visible_s: list[float] = field(default_factory=list)
    torn: list[Torn] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def intact(self) -> bool:
        return self.traces_expected > 0 and self.traces_intact == self.traces_expected

    def tally(self, service: str) -> Tally:
        found = self.services.get(service)
        if found is None:
            found = self.services[service] = Tally()
        return found


def sampled(trace_id: str, seed: int, fraction: float) -> bool:
    """The same traces for the same seed and fraction, on any machine (no `hash()`)."""
    if fraction >= 1.0:
        return True
    digest = hashlib.blake2b(f"{seed}:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


def partition(run_dir: Path, work: Path, fraction: float, seed: int, torn: list[Torn]) -> list[Path]:
    """Bucket files of whole traces (raw lines; a trace id is a line's characters 2..34). A file's last
    line cut short (its host killed mid-write) is counted in `torn`; any other bad line is an InputError."""
    files = expected_files(run_dir)
    size = sum(f.stat().st_size for f in files)
    count = max(1, -(-int(size * min(fraction, 1.0)) // BUCKET_BYTES))
    buckets = [work / f"bucket-{i}.jsonl" for i in range(count)]
    outs = [open(b, "w", encoding="utf-8") for b in buckets]  # noqa: SIM115 - closed below
    keep: dict[str, bool] = {}  # a sample is decided once per trace; bounded, as traces end near in time
    try:
        for path in files:
            with open(path, encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    trace_id = line[2:34]
                    if not (line.endswith("\n") and line.startswith('["') and _is_hex(trace_id)):
                        _bad_line(path, number, line, lines, torn)
                        continue
                    chosen = keep.get(trace_id)
                    if chosen is None:
                        if len(keep) >= 100_000:
                            keep.clear()
                        chosen = keep[trace_id] = sampled(trace_id, seed, fraction)
                    if chosen:
                        outs[zlib.crc32(trace_id.encode()) % count].write(line)  # ids may share a prefix
    finally:
        for out in outs:
            out.close()
    return buckets


def _bad_line(path: Path, number: int, line: str, rest: Any, torn: list[Torn]) -> None:
    if next(rest, None) is None and not line.endswith("\n"):  # the last line, cut short
        torn.append(Torn(path, number, "cut short (its host stopped mid-write)"))
        return
    raise InputError([Problem(str(path), f"line {number}", "not an expected-span line; rerun the run")])


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _load(bucket: Path) -> dict[str, list[ExpectedSpan]]:
    traces: dict[str, list[ExpectedSpan]] = {}
    with open(bucket, encoding="utf-8") as lines:
        for line in lines:
            try:
                span = decode(line)
            except (ValueError, TypeError) as exc:
                where = f"trace {line[2:34]}"
                raise InputError([Problem("expected record", where, f"unreadable span ({exc})")]) from None
            traces.setdefault(span.trace_id, []).append(span)
    return traces


class Poller:
    """Asks a backend for traces round by round until each is complete or the deadline passes."""

    def __init__(
        self,
        backend: Backend,
        deadline: float,
        poll_s: float,
        pool: ThreadPoolExecutor,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.deadline = deadline
        self.poll_s = poll_s
        self.pool = pool
        self.clock = clock
        self.wall = wall

    def _ask(self, trace_id: str) -> tuple[list[FoundSpan] | None, float]:
        return self.backend.fetch(trace_id), self.wall()

    def poll(self, traces: dict[str, list[ExpectedSpan]], settle: Settle) -> None:
        """Hand each trace to `settle(trace_id, expected, spans, seen_at)` once: as soon as it is complete
        (seen_at: the wall time of that answer), or with its last answer and seen_at 0.0 at the deadline."""
        settled: set[str] = set()
        pending = list(traces)
        while pending:
            last: dict[str, list[FoundSpan] | None] = {}
            try:
                for trace_id, (spans, at) in zip(pending, self.pool.map(self._ask, pending), strict=True):
                    if complete(traces[trace_id], spans):
                        settle(trace_id, traces[trace_id], spans, at)
                        settled.add(trace_id)
                    else:
                        last[trace_id] = spans
            except BackendError:
                remaining = self.deadline - self.clock()
                if remaining <= 0:
                    raise
                time.sleep(min(self.poll_s, remaining))  # a backend (re)starting: ask until the deadline
                pending = [t for t in pending if t not in settled]
                continue
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                for trace_id, spans in last.items():
                    settle(trace_id, traces[trace_id], spans, 0.0)
                return
            if last:
                time.sleep(min(self.poll_s, remaining))  # a remote store ingests on its own time
            pending = list(last)


def judge(
    outcome: Outcome,
    keeps: Keeps,
    trace_id: str,
    expected: list[ExpectedSpan],
    spans: list[FoundSpan] | None,
    seen_at: float,
) -> None:
    """Fold one trace's answer into the outcome."""
    outcome.traces_expected += 1
    for span in expected:
        outcome.tally(span.service).expected += 1
    if spans is None:
        outcome.traces_not_found += 1
        if len(outcome.not_found) < LISTED:
            outcome.not_found.append(trace_id)
        for span in expected:
            outcome.tally(span.service).counts["missing"] += 1
        return
    problems = compare(trace_id, expected, spans, keeps)
    bad = {p.span_id for p in problems if p.problem != "unexpected"}
    for span in expected:
        if span.span_id not in bad:
            outcome.tally(span.service).intact += 1
    for problem in problems:
        outcome.tally(problem.service).counts[problem.problem] += 1
        if len(outcome.problems) < LISTED:
            outcome.problems.append(problem)
    if problems:
        outcome.traces_with_problems += 1
    else:
        outcome.traces_intact += 1
    if seen_at:
        outcome.visible_s.append(max(0.0, seen_at - max(s.end_ns for s in expected) / 1e9))


def verify(
    run_dir: Path,
    backend: Backend,
    wait_s: float = 30.0,
    sample: float = 1.0,
    seed: int = 1,
    workers: int = 8,
    poll_s: float = 0.5,
) -> Outcome:
    """Verify the run in `run_dir` against `backend`. Raises BackendError (down, garbage) once the wait
    is over, InputError when the run has no readable record."""
    started = time.monotonic()
    outcome = Outcome(backend.kind, backend.url, sample, seed)
    work = Path(tempfile.mkdtemp(prefix="nanoservices-verify-"))
    try:
        buckets = partition(run_dir, work, sample, seed, outcome.torn)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
            poller = Poller(backend, started + wait_s, poll_s, pool)
            for bucket in buckets:
                traces = _load(bucket)
                os.unlink(bucket)
                poller.poll(traces, functools.partial(judge, outcome, backend.keeps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


__all__ = ["PROBLEMS", "Outcome", "Poller", "partition", "sampled", "verify"]
