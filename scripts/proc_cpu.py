"""CPU seconds of a process tree from /proc, for the benchmarks that measure CPU per span, per hop or
per process over a run's traffic window (the run's driver and every process under it: Ray's
gcs_server, raylet and workers). Shared by bench_spans.py, bench_hops.py and bench_scaleout.py."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the command: state, ppid, ..., utime (14th field of the line) and stime (15th)
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds so far of `root` and every descendant, by pid."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                children.setdefault(found[0], []).append(int(entry.name))
                cpu[int(entry.name)] = found[1]
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in cpu:
            out[pid] = cpu[pid]
        todo.extend(children.get(pid, ()))
    return out


def process_name(pid: int) -> str:
    """The process's name (Ray sets it: ray::Host, raylet, gcs_server...), "?" if it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
