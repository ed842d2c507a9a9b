"""Benchmark: wall time of `nanoservices plan netflixoss -p 100000 --json`, end to end.

Runs the installed console script in a subprocess (interpreter start, imports, expansion and JSON
writing all count), sends the output to /dev/null and reports the best of three runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMMAND = ["plan", "netflixoss", "-p", "100000", "--json"]
RUNS = 3


def console_script() -> str:
    """The `nanoservices` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("nanoservices")
    found = str(beside) if beside.exists() else shutil.which("nanoservices")
    if found is None:
        sys.exit("bench_plan: no `nanoservices` console script; run `make test` or `pip install -e .` first")
    return found


def timed_run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def instance_count(command: list[str]) -> int:
    result = subprocess.run(command, capture_output=True, check=True, text=True)
    return len(json.loads(result.stdout))


def main() -> None:
    command = [console_script(), *COMMAND]
    best = min(timed_run(command) for _ in range(RUNS))
    count = instance_count(command)
    print(f"nanoservices {' '.join(COMMAND)}: {best:.2f} s best of {RUNS}, {count:,} instances")


if __name__ == "__main__":
    main()
