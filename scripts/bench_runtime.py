"""Runtime benchmark (issue 3): start-up time and memory per instance.

1. netflixoss at one Ray actor per instance (K=1): time from run start to all instances registered,
   against creating the same number of empty Ray actors in the same Ray session (target: <= 1.3x).
2. netflixoss -p 10000 packed (one host per zone): 6,300 instances registered (target: < 10 s).

Prints one line per figure. Run with `make bench` or `.venv/bin/python scripts/bench_runtime.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

from nanoservices.catalog import resolve_plan
from nanoservices.config import RunConfig
from nanoservices.simulation import run

ROUNDS = 5


@ray.remote(num_cpus=0)
class Empty:
    def ping(self) -> int:
        return os.getpid()


def actor_processes() -> int:
    """Ray actor processes alive on this machine: titled `ray::<Class>...`. Idle pool workers
    (`ray::IDLE`) and Ray's own agents (`ray::DashboardAgent`, `ray::RuntimeEnvAgent`) are not."""
    count = 0
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                title = cmdline.read(200).split(b"\0")[0]
        except OSError:
            continue
        count += title.startswith(b"ray::") and title != b"ray::IDLE" and not title.endswith(b"Agent")
    return count


def settle(timeout: float = 60.0) -> None:
    """Start every measurement from a quiet machine: wait until the actors killed by the previous
    one have exited (dozens of exiting processes would otherwise steal CPU from the next)."""
    deadline = time.monotonic() + timeout
    while actor_processes() and time.monotonic() < deadline:
        time.sleep(0.2)


def empty_actors_seconds(count: int) -> float:
    settle()
    started = time.perf_counter()
    actors = [Empty.remote() for _ in range(count)]
    ray.get([a.ping.remote() for a in actors])
    elapsed = time.perf_counter() - started
    for actor in actors:
        ray.kill(actor)
    return elapsed


def simulate(arch: str, scale: int, per_host: int, out: Path) -> dict[str, float]:
    plan = resolve_plan(arch, scale)
    settle()
    config = RunConfig(
        arch=arch, scale=scale, duration=1.0, instances_per_host=per_host, out_dir=out, chaos=False
    )
    summary = run(config, plan)
    return {
        "instances": summary.instances_started,
        "hosts": summary.hosts,
        "registered": summary.timings["registered"],
        "mib_per_instance": summary.host_memory_bytes / (1 << 20) / max(1, summary.instances_started),
    }


def main() -> int:
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        plan = resolve_plan("netflixoss", 100)
        actors = len(plan.instances)  # the strict reading: one empty actor per instance
        all_actors = actors + len(plan.registries) + 2  # what the run starts: + Eureka, Edda, supervisor
        # Actor start-up on 2 cores varies by +-10 % from one batch to the next: interleave
        # baselines and runs, compare each run with the baselines on either side, take the median.
        # Every measurement starts once the previous one's processes have exited.
        baselines = [empty_actors_seconds(actors)]
        baselines_all = [empty_actors_seconds(all_actors)]
        runs = []
        for round_ in range(ROUNDS):
            runs.append(simulate("netflixoss", 100, 1, Path(tmp) / f"k1-{round_}"))
            baselines.append(empty_actors_seconds(actors))
            baselines_all.append(empty_actors_seconds(all_actors))
        ratios = [r["registered"] / ((baselines[i] + baselines[i + 1]) / 2) for i, r in enumerate(runs)]
        ratios_all = [
            r["registered"] / ((baselines_all[i] + baselines_all[i + 1]) / 2) for i, r in enumerate(runs)
        ]
        median = statistics.median(ratios)
        k1 = runs[ratios.index(median)]
        registered = ", ".join(f"{r['registered']:.1f}" for r in runs)
        print(
            f"netflixoss K=1: {k1['instances']:.0f} instances on {k1['hosts']:.0f} actors registered in "
            f"{registered} s; {actors} empty Ray actors: {', '.join(f'{b:.1f}' for b in baselines)} s; "
            f"ratios {', '.join(f'{x:.2f}' for x in ratios)}, median {median:.2f} (target <= 1.3); "
            f"{k1['mib_per_instance']:.1f} MiB per instance"
        )
        print(
            f"  against the {all_actors} Ray actors the run starts (hosts, Eureka, Edda, supervisor): "
            f"{', '.join(f'{b:.1f}' for b in baselines_all)} s; "
            f"ratios {', '.join(f'{x:.2f}' for x in ratios_all)}, "
            f"median {statistics.median(ratios_all):.2f}"
        )
        packed = simulate("netflixoss", 10_000, 100_000, Path(tmp) / "packed")
        print(
            f"netflixoss -p 10000 packed: {packed['instances']:.0f} instances "
            f"on {packed['hosts']:.0f} actors "
            f"registered in {packed['registered']:.2f} s (target < 10 s); "
            f"{packed['mib_per_instance'] * 1024:.1f} KiB per instance"
        )
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
