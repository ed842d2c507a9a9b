"""A verify's outcome as verify.json and as a table for the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nanoservices.verify.compare import PROBLEMS
from nanoservices.verify.runner import NAMED, Outcome

VERIFY_JSON = "verify.json"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (q in 0..100)."""
    if not values:
        return 0.0
    rank = max(1, -(-int(q * len(values)) // 100))
    return values[min(rank, len(values)) - 1]


def visibility(outcome: Outcome) -> dict[str, float | int]:
    values = sorted(outcome.visible_s)
    return {
        "traces": len(values),
        "p50_s": round(percentile(values, 50), 4),
        "p99_s": round(percentile(values, 99), 4),
        "max_s": round(values[-1], 4) if values else 0.0,
    }


def as_json(outcome: Outcome) -> dict[str, Any]:
    spans = {"expected": 0, "intact": 0, **dict.fromkeys(PROBLEMS, 0)}
    for tally in outcome.services.values():
        for key, value in tally.as_dict().items():
            spans[key] += value
    return {
        "intact": outcome.intact,
        "backend": outcome.backend,
        "url": outcome.url,
        "sample": outcome.sample,
        "seed": outcome.seed,
        "traces": {
            "expected": outcome.traces_expected,
            "intact": outcome.traces_intact,
            "not_found": outcome.traces_not_found,
            "with_problems": outcome.traces_with_problems,
        },
        "spans": spans,
        "services": {name: t.as_dict() for name, t in sorted(outcome.services.items())},
        "time_to_visible": visibility(outcome),
        "not_found": outcome.not_found,
        "problems": [p._asdict() for p in outcome.problems],
        "torn_lines": [{"file": str(t.path), "line": t.line, "why": t.why} for t in outcome.torn],
        "elapsed_s": round(outcome.elapsed_s, 3),
    }


def write_json(outcome: Outcome, path: Path) -> Path:
    path.write_text(json.dumps(as_json(outcome), indent=2) + "\n")
    return path


def table(outcome: Outcome) -> list[str]:
    """The verdict line, a row per service with any span, time to visible, the first unfound ids."""
    sample = "" if outcome.sample >= 1 else f" (a {outcome.sample:.0%} sample, seed {outcome.seed})"
    lines = [
        f"verify: {outcome.backend} at {outcome.url}: {outcome.traces_intact:,} of "
        f"{outcome.traces_expected:,} traces intact{sample}; {outcome.traces_not_found:,} not found, "
        f"{outcome.traces_with_problems:,} with problems"
    ]
    width = max([7, *(len(s) for s in outcome.services)])
    lines.append(
        f"  {'service':<{width}} {'expected':>9} {'intact':>9} " + " ".join(f"{p:>10}" for p in PROBLEMS)
    )
    for name, tally in sorted(outcome.services.items()):
        row = tally.as_dict()
        lines.append(
            f"  {name:<{width}} {row['expected']:>9,} {row['intact']:>9,} "
            + " ".join(f"{row[p]:>10,}" for p in PROBLEMS)
        )
    seen = visibility(outcome)
    lines.append(
        f"  time to visible: p50 {seen['p50_s']:.3f}s, p99 {seen['p99_s']:.3f}s, max {seen['max_s']:.3f}s "
        f"({seen['traces']:,} traces seen whole)"
    )
    if outcome.not_found:
        more = outcome.traces_not_found - min(NAMED, len(outcome.not_found))
        lines.append(
            "  not found: " + ", ".join(outcome.not_found[:NAMED]) + (f" and {more:,} more" if more else "")
        )
    for problem in outcome.problems[:NAMED]:
        lines.append(f"  {problem.problem}: trace {problem.trace_id} span {problem.span_id} "
                     f"({problem.service}) {problem.detail}")  # fmt: skip
    if outcome.torn:
        lines.append(f"  {len(outcome.torn)} record line(s) cut short were skipped (see {VERIFY_JSON})")
    return lines
