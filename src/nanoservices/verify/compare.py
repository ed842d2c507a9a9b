"""One trace, expected against found: which spans are missing, altered, duplicated or unexpected.

Pure and Ray-free: the runner fetches, this judges. A span is altered when its parent, service, name, kind,
error status or one of the selected attributes differs from the record, counting only what the backend
keeps (Keeps): Phoenix stores no span kind, Zipkin lower-cases names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from nanoservices.tracing.expected import ExpectedSpan
from nanoservices.verify.model import FoundSpan, Keeps, text

MISSING = "missing"
ALTERED = "altered"
DUPLICATE = "duplicate"
UNEXPECTED = "unexpected"
PROBLEMS = (MISSING, ALTERED, DUPLICATE, UNEXPECTED)


class SpanProblem(NamedTuple):
    trace_id: str
    span_id: str
    service: str
    problem: str  # one of PROBLEMS
    detail: str = ""


@dataclass
class Tally:
    """Per service: spans expected, found intact, and each kind of problem."""

    expected: int = 0
    intact: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {"expected": self.expected, "intact": self.intact, **{p: self.counts[p] for p in PROBLEMS}}


def _same(a: str, b: str, fold: bool) -> bool:
    return a.lower() == b.lower() if fold else a == b


def differences(want: ExpectedSpan, got: FoundSpan, keeps: Keeps) -> list[str]:
    """What differs between the record and the stored span, one short phrase each."""
    fold = keeps.lower_case_names
    out = []
    if want.parent_id != got.parent_id:
        out.append(f"parent {want.parent_id or '(root)'} -> {got.parent_id or '(root)'}")
    if keeps.service and not _same(want.service, got.service, fold):
        out.append(f"service {want.service!r} -> {got.service!r}")
    if not _same(want.name, got.name, fold):
        out.append(f"name {want.name!r} -> {got.name!r}")
    if keeps.kind and want.kind != got.kind:
        out.append(f"kind {want.kind} -> {got.kind}")
    if want.error != got.error:
        out.append(f"error {want.error} -> {got.error}")
    for key, value in want.attributes.items():
        if key not in got.attributes:
            out.append(f"{key} {text(value)!r} -> (absent)")
        elif text(value) != text(got.attributes[key]):
            out.append(f"{key} {text(value)!r} -> {text(got.attributes[key])!r}")
    return out


def compare(
    trace_id: str, expected: Sequence[ExpectedSpan], found: Sequence[FoundSpan], keeps: Keeps
) -> list[SpanProblem]:
    """Every problem of one trace; [] when the backend kept it intact."""
    by_id: dict[str, list[FoundSpan]] = {}
    for span in found:
        by_id.setdefault(span.span_id, []).append(span)
    problems = []
    wanted = set()
    for want in expected:
        wanted.add(want.span_id)
        copies = by_id.get(want.span_id)
        if not copies:
            problems.append(SpanProblem(trace_id, want.span_id, want.service, MISSING))
            continue
        if len(copies) > 1:
            problems.append(
                SpanProblem(trace_id, want.span_id, want.service, DUPLICATE, f"{len(copies)} copies")
            )
        changed = differences(want, copies[0], keeps)
        if changed:
            problems.append(SpanProblem(trace_id, want.span_id, want.service, ALTERED, "; ".join(changed)))
    services = {s.service.lower(): s.service for s in expected} if keeps.lower_case_names else {}
    for span_id, copies in by_id.items():
        if span_id not in wanted:
            service = copies[0].service or "(unknown)"
            service = services.get(service, service)
            problems.append(SpanProblem(trace_id, span_id, service, UNEXPECTED, copies[0].name))
    return problems


def complete(expected: Sequence[ExpectedSpan], found: Sequence[FoundSpan] | None) -> bool:
    """Every expected span is there: no need to ask again (a backend still ingesting shows fewer)."""
    if not found:
        return False
    have = {s.span_id for s in found}
    return all(s.span_id in have for s in expected)
