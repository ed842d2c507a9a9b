"""spigo's fsm benchmark against ours (issue 9): `spigo -a fsm -d 0 -p 100000` and
`nanoservices run fsm -p 100000 -d 0`, alternating, ROUNDS rounds each.

What is measured, per run:
- wall: from starting the command to its exit (time.perf_counter in this script);
- Delivered: the time each one prints in its "fsm: Delivered N messages in X" line. spigo's N is
  5 per pirate (its Hello plus the four opening moves), ours 4 (a host knows its pirates' names
  from the plan), so messages/s are printed as well;
- peak memory: spigo is one process, so its figure is `/usr/bin/time -v`'s "Maximum resident
  set size". Ours is many processes (the CLI driver, Ray's own daemons, the supervisor, Edda and
  the hosts), which no single max-RSS covers: a thread here sums the RSS (from /proc/PID/status)
  of the CLI process and all its descendants every 50 ms, and the peak of that sum is reported.
  Shared pages (Ray's object store, libraries) count once per process, so ours is an upper bound;
  the peak of the summed PSS (proportional set size, /proc/PID/smaps_rollup: a shared page split
  between the processes that map it) is printed beside it, as the fair figure for many processes.

spigo runs from a scratch folder set up as ../shared/spigo/README.md says (a copy of json_arch/
and empty json/, json_metrics/, csv_metrics/, gml/), removed afterwards. Skips, saying so, when
the spigo binary is absent. Targets: our Delivered time <= spigo's; wall <= 2x; peak <= spigo's.
Run: `.venv/bin/python scripts/bench_vs_spigo.py`. A measurement, not a test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPIGO_HOME = Path(os.environ.get("SPIGO_HOME", ROOT.parent / "shared" / "spigo"))
SPIGO = SPIGO_HOME / "bin" / "spigo"
CLI = Path(sys.executable).with_name("nanoservices")
PIRATES = int(os.environ.get("BENCH_PIRATES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SAMPLE_SECONDS = 0.05
DELIVERED = re.compile(r"fsm: Delivered (\d+) messages in (\S+)")
MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")

sys.path.insert(0, str(ROOT / "src"))
from nanoservices.durations import parse_duration  # noqa: E402


def scratch_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="spigo-bench-"))
    shutil.copytree(SPIGO_HOME / "json_arch", folder / "json_arch")
    for name in ("json", "json_metrics", "csv_metrics", "gml"):
        (folder / name).mkdir()
    return folder


def delivered(text: str) -> tuple[int, float]:
    match = DELIVERED.search(text)
    if match is None:
        raise RuntimeError(f"no Delivered line in:\n{text[-2000:]}")
    return int(match.group(1)), parse_duration(match.group(2))


def run_spigo(folder: Path) -> dict[str, float]:
    command = ["/usr/bin/time", "-v", str(SPIGO), "-a", "fsm", "-d", "0", "-p", str(PIRATES)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    messages, seconds = delivered(done.stdout + done.stderr)
    peak = MAX_RSS.search(done.stderr)
    assert peak is not None, done.stderr[-2000:]
    peak_mib = int(peak.group(1)) / 1024
    return {
        "wall": wall,
        "delivered": seconds,
        "messages": messages,
        "peak_mib": peak_mib,
        "peak_pss_mib": peak_mib,
    }


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    """root and its descendants, from /proc/*/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


class PeakSampler(threading.Thread):
    """The peak, over the run, of the summed RSS of a process tree, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.peak_pss_kib = pid, 0, 0
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.wait(SAMPLE_SECONDS):
            tree = _tree(self.pid)
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in tree))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(_pss_kib(p) for p in tree))


def run_ours(out: Path) -> dict[str, float]:
    command = [str(CLI), "run", "fsm", "-p", str(PIRATES), "-d", "0", "--out", str(out)]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout, in the driver and Ray's workers
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = PeakSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.finished.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"nanoservices exited {process.returncode}:\n{stderr[-2000:]}")
    messages, seconds = delivered(stdout)
    timings = json.loads((out / "summary.json").read_text()).get("timings", {})
    registered, opened = timings.get("registered", 0.0), timings.get("traffic_started", 0.0)
    print(
        f"  nanoservices phases: {registered:.1f} s to every pirate registered (Ray, actors, hosts), "
        f"{opened - registered:.1f} s to start them and deliver the opening moves, "
        f"{wall - opened:.1f} s to shut down and write the outputs",
        flush=True,
    )
    return {
        "wall": wall,
        "delivered": seconds,
        "messages": messages,
        "peak_mib": sampler.peak_kib / 1024,
        "peak_pss_mib": sampler.peak_pss_kib / 1024,
    }


def main() -> None:
    if not SPIGO.exists():
        print(f"bench_vs_spigo: skipped, no spigo binary at {SPIGO} (set SPIGO_HOME)")
        return
    results: dict[str, list[dict[str, float]]] = {"spigo": [], "nanoservices": []}
    folder = scratch_folder()
    out = Path(tempfile.mkdtemp(prefix="nanoservices-bench-"))
    try:
        for round_ in range(1, ROUNDS + 1):
            for name, runner in (
                ("spigo", lambda: run_spigo(folder)),
                ("nanoservices", lambda: run_ours(out)),
            ):
                figures = runner()
                results[name].append(figures)
                print(
                    f"round {round_} {name:>12}: wall {figures['wall']:6.2f} s, Delivered "
                    f"{figures['messages']:,.0f} in {figures['delivered']:6.3f} s, "
                    f"peak {figures['peak_mib']:,.0f} MiB (PSS {figures['peak_pss_mib']:,.0f} MiB)",
                    flush=True,
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    print(f"fsm -p {PIRATES:,} -d 0, median of {ROUNDS} rounds (load average {os.getloadavg()[0]:.1f}):")
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    for name, m in medians.items():
        rate = m["messages"] / m["delivered"] if m["delivered"] else float("inf")
        print(
            f"  {name:>12}: wall {m['wall']:6.2f} s, Delivered {m['messages']:,.0f} "
            f"in {m['delivered']:.3f} s ({rate:,.0f} messages/s), peak {m['peak_mib']:,.0f} MiB "
            f"(PSS {m['peak_pss_mib']:,.0f} MiB)"
        )
    ours, theirs = medians["nanoservices"], medians["spigo"]
    for key, label, target in (
        ("delivered", "Delivered time", 1.0),
        ("wall", "wall", 2.0),
        ("peak_mib", "peak memory (RSS)", 1.0),
        ("peak_pss_mib", "peak memory (PSS)", 1.0),
    ):
        ratio = ours[key] / theirs[key]
        verdict = "met" if ratio <= target else "NOT met"
        print(f"  {label}: ours / spigo's = {ratio:.2f} (target <= {target:g}: {verdict})")


if __name__ == "__main__":
    main()
