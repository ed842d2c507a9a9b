"""What an idle Ray actor costs this machine: CPU per second and wake-ups of its main thread.

At one actor per instance this is the floor under every K=1 run: 65 idle hosts cost 65 times it
before a single message moves. Prints, for N idle async actors (default 20) after they settle:
CPU ms per second per actor, split into the main thread and the rest, and the main thread's
voluntary context switches per second (its wake-ups).

    python scripts/measure_idle_actor.py [N] [SECONDS]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import ray

HZ = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int, tid: int) -> int:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def _sample(pids: list[int]) -> tuple[int, int, int]:
    main = rest = switches = 0
    for pid in pids:
        for tid in map(int, os.listdir(f"/proc/{pid}/task")):
            if tid == pid:
                main += _ticks(pid, tid)
            else:
                rest += _ticks(pid, tid)
        switches += _switches(pid)
    return main, rest, switches


@ray.remote(num_cpus=0)
class Idle:
    async def pid(self) -> int:
        return os.getpid()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    ray.init(address="local", include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        actors = [Idle.remote() for _ in range(n)]
        pids = ray.get([a.pid.remote() for a in actors])
        time.sleep(10.0)  # a measurement, not a synchronisation: let start-up work finish
        before = _sample(pids)
        time.sleep(seconds)
        after = _sample(pids)
    finally:
        ray.shutdown()
    main_ms, rest_ms = ((a - b) / HZ * 1000 / seconds / n for a, b in zip(after[:2], before[:2], strict=True))
    wakeups = (after[2] - before[2]) / seconds / n
    print(
        f"{n} idle Ray actors over {seconds:g} s: {main_ms + rest_ms:.2f} ms CPU per second each "
        f"(main thread {main_ms:.2f}, other threads {rest_ms:.2f}); "
        f"main thread wakes {wakeups:.0f} times a second"
    )


if __name__ == "__main__":
    main()
