"""netflixoss at one Ray actor per instance, socket data plane vs Ray calls, in one script run:
the highest request rate each holds for the whole run with no skipped ticks and p99 under 250 ms.

Each step is a whole `nanoservices run` (its own embedded Ray), so the figures are what a user
sees. Rates climb per transport until one fails; the last that held is reported, with the ratio.

    .venv/bin/python scripts/bench_k1_transport.py            # 20 s per step
    BENCH_SECONDS=10 .venv/bin/python scripts/bench_k1_transport.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from nanoservices.outputs.histogram import quantile

CLI = str(Path(sys.executable).parent / "nanoservices")
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
P99_LIMIT = 0.250
LADDERS = {"socket": (100, 200, 400, 800, 1600), "ray": (25, 50, 100, 200)}


def step(transport: str, rate: float, out: Path) -> dict[str, float]:
    command = [CLI, "run", "netflixoss", "-d", str(SECONDS), "--no-chaos", "--rate", str(rate),
               "--transport", transport, "--max-in-flight", "0", "--out", str(out)]  # fmt: skip
    subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    summary = json.loads((out / "summary.json").read_text())
    buckets = {int(k): v for k, v in summary["latency_buckets"].items()}
    return {
        # per second the sources ticked, as the summary's traffic line says it
        "achieved": summary["requests_issued"]
        * max(summary.get("traffic_sources", 0), 1)
        / max(summary.get("source_seconds") or summary["traffic_seconds"], 1e-9),
        "skipped": summary["ticks_skipped"] + summary.get("ticks_throttled", 0),
        "failed": summary["requests_failed_total"],
        "p99": quantile(buckets, 0.99),
    }


def main() -> None:
    held: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for transport, ladder in LADDERS.items():
            held[transport] = 0.0
            for rate in ladder:
                figures = step(transport, rate, Path(scratch) / f"{transport}-{rate}")
                ok = figures["skipped"] == 0 and figures["p99"] < P99_LIMIT and figures["failed"] == 0
                print(
                    f"{transport:6} rate {rate:6,}: achieved {figures['achieved']:8,.1f}/s, "
                    f"{figures['skipped']:,.0f} ticks skipped, {figures['failed']:,.0f} failed, "
                    f"p99 {figures['p99'] * 1000:8.1f} ms -> {'held' if ok else 'not held'}",
                    flush=True,
                )
                if not ok:
                    break
                held[transport] = rate
    print(
        f"highest rate held for {SECONDS:g} s (no skipped ticks, p99 < {P99_LIMIT * 1000:.0f} ms, 0 failed):"
    )
    for transport, rate in held.items():
        print(f"  {transport}: {rate:,.0f} requests/s")
    if held["ray"]:
        print(f"  socket / ray: {held['socket'] / held['ray']:.1f}x")


if __name__ == "__main__":
    main()
