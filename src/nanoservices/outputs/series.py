"""The per-second series and latency histograms, written from a run's summed host counts.

`timeseries.csv` is what a canary judge reads and the report draws: per second since the traffic
started and per (service, version, zone), the replies instances made, how many were not OK, and
the p50/p99 of their service time. `histograms.json` and `histograms/<service>.csv` (spigo's
csv_metrics/) give each service's whole-run histogram and the traffic sources' end-to-end one;
its "edges" and `histograms/edges/<caller>--<callee>.csv` give each edge's, as its callers waited
(a slow network or a retry shows there, not in the callee's service time). Latencies are the upper
bounds of outputs/histogram.py buckets, in milliseconds.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nanoservices.outputs import histogram

TIMESERIES = "timeseries.csv"
HISTOGRAMS = "histograms.json"
HISTOGRAM_DIR = "histograms"
EDGE_DIR = "edges"  # under HISTOGRAM_DIR
TIMESERIES_HEADER = ("second", "service", "version", "zone", "requests", "errors", "p50_ms", "p99_ms")
CAPACITY = "capacity.csv"
CAPACITY_HEADER = (
    "second",
    "service",
    "version",
    "zone",
    "arrivals",
    "queue",
    "in_service",
    "rejected",
    "utilisation",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def ms(seconds: float) -> float:
    """Milliseconds with 6 significant digits: enough to keep every bucket bound distinct."""
    return float(f"{seconds * 1000:.6g}")


def series_rows(
    series: Mapping[str, Mapping[str, Any]],
) -> list[tuple[int, str, str, str, Mapping[str, Any]]]:
    """(second, service, version, zone, row) from "second|service|version|zone" keys, sorted."""
    rows = []
    for key, row in series.items():
        second, rest = key.split("|", 1)
        service, version, zone = rest.rsplit("|", 2)
        rows.append((int(second), service, version, zone, row))
    rows.sort(key=lambda r: r[:4])
    return rows


def summary_of(buckets: Mapping[int, int]) -> dict[str, Any]:
    """One histogram as histograms.json shows it."""
    ordered = sorted(buckets)
    return {
        "buckets": [[ms(histogram.upper_bound(b)), buckets[b]] for b in ordered],
        "count": sum(buckets.values()),
        "p50_ms": ms(histogram.quantile(buckets, 0.5)),
        "p90_ms": ms(histogram.quantile(buckets, 0.9)),
        "p99_ms": ms(histogram.quantile(buckets, 0.99)),
        "max_ms": ms(histogram.upper_bound(ordered[-1])) if ordered else 0.0,
    }


def write_series(out_dir: Path, stats: Mapping[str, Any]) -> list[Path]:
    """Write the series and histogram files into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = series_rows(stats.get("series", {}))
    per_service: dict[str, dict[int, int]] = {}
    timeseries = out_dir / TIMESERIES
    with timeseries.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(TIMESERIES_HEADER)
        for second, service, version, zone, row in rows:
            buckets = histogram.from_counts(row["h"])
            merged = per_service.setdefault(service, {})
            for bucket, n in buckets.items():
                merged[bucket] = merged.get(bucket, 0) + n
            writer.writerow(
                (
                    second,
                    service,
                    version,
                    zone,
                    row["requests"],
                    row["errors"],
                    f"{ms(histogram.quantile(buckets, 0.5)):g}",
                    f"{ms(histogram.quantile(buckets, 0.99)):g}",
                )
            )
    written = [timeseries]
    capacity = write_capacity(out_dir, rows)
    if capacity is not None:
        written.append(capacity)
    histograms = out_dir / HISTOGRAMS
    document = {
        "services": {service: summary_of(per_service[service]) for service in sorted(per_service)},
        "entry": summary_of(histogram.from_counts(stats.get("latency_buckets", {}))),
        "edges": edge_summaries(stats.get("edge_latency", {})),
    }
    histograms.write_text(json.dumps(document, indent=2) + "\n")
    written.append(histograms)
    csv_dir = out_dir / HISTOGRAM_DIR
    csv_dir.mkdir(exist_ok=True)
    for service in sorted(per_service):
        path = csv_dir / f"{_UNSAFE.sub('_', service)}.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("upper_bound_ms", "count"))
            writer.writerows(document["services"][service]["buckets"])
        written.append(path)
    edges = document["edges"]
    if edges:
        (csv_dir / EDGE_DIR).mkdir(exist_ok=True)
    for edge in edges.values():
        name = f"{_UNSAFE.sub('_', edge['caller'])}--{_UNSAFE.sub('_', edge['callee'])}.csv"
        path = csv_dir / EDGE_DIR / name
        with path.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("upper_bound_ms", "count"))
            writer.writerows(edge["buckets"])
        written.append(path)
    return written


def write_capacity(out_dir: Path, rows: list[tuple[int, str, str, str, Mapping[str, Any]]]) -> Path | None:
    """`capacity.csv`, when a service has capacity: per second and (service, version, zone), the
    mean queue length and in-service count an arrival found, rejections and worker utilisation."""
    rows = [r for r in rows if r[4].get("workers")]
    if not rows:
        return None
    path = out_dir / CAPACITY
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CAPACITY_HEADER)
        for second, service, version, zone, row in rows:
            arrivals = row.get("arrivals", 0) or 1
            writer.writerow(
                (
                    second,
                    service,
                    version,
                    zone,
                    row.get("arrivals", 0),
                    f"{row.get('queue', 0) / arrivals:.3g}",
                    f"{row.get('in_service', 0) / arrivals:.3g}",
                    row.get("rejected", 0),
                    f"{row.get('busy', 0.0) / row['workers']:.3f}",
                )
            )
    return path


def edge_summaries(edges: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per "caller->callee", sorted: the requests callers sent along it that ended, how many failed,
    and the histogram of every one's wait (failed ones too: a timeout is a long wait)."""
    out = {}
    for key in sorted(edges, key=lambda k: tuple(k.split("|", 1))):
        caller, callee = key.split("|", 1)
        row = edges[key]
        out[f"{caller}->{callee}"] = {
            "caller": caller,
            "callee": callee,
            "errors": row["errors"],
            **summary_of(histogram.from_counts(row["h"])),
        }
    return out
