"""The network-namespace cluster of `cluster/netns.py` for tests: up, runs of the CLI inside the head
namespace, the switch's view, and a check that `down` left nothing behind. Needs root and network
namespaces; `unavailable()` says why not, for a skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from nanoservices.runtime.netfaults import STATE_DIR, ask

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "cluster" / "netns.py"
PYTHON = sys.executable
CLI = str(Path(sys.executable).with_name("nanoservices"))
PREFIX = "nsv"  # every namespace and link the script makes is named nsv...


def unavailable(fresh: bool = True) -> str | None:
    """Why this machine cannot run the cluster (None: it can); `fresh`: and none is up already."""
    if os.geteuid() != 0:
        return "not root: network namespaces need root"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    probe = subprocess.run(
        ["ip", "netns", "add", "nsv-test-probe"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"network namespaces not allowed here: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", "nsv-test-probe"], capture_output=True, check=False)
    if fresh and (STATE_DIR / "state.json").exists():
        return f"a netns cluster is already up ({STATE_DIR}); `make cluster-down` first"
    return None


def script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


class NetnsCluster:
    def __init__(self, zones: int = 3, regions: int = 1, region_rtt: str = "70ms") -> None:
        self.region_rtt = region_rtt
        done = script("up", "--zones", str(zones), "--regions", str(regions), "--region-rtt", region_rtt)
        if done.returncode != 0:
            raise RuntimeError(f"cluster up failed: {done.stderr.strip()[-1500:]}")
        self.address = (STATE_DIR / "address").read_text().strip()
        self.spec: dict[str, Any] = json.loads((STATE_DIR / "cluster.json").read_text())
        self.inodes = {os.stat(f"/run/netns/{m['netns']}").st_ino for m in self.spec["machines"]}

    @property
    def host_ip(self) -> str:
        return str(self.spec["host_ip"])

    def ip_of(self, machine: str) -> str:
        return next(str(m["ip"]) for m in self.spec["machines"] if m["name"] == machine)

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`nanoservices run ... --address` in the head namespace, as the README says a user types it."""
        env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
        path = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
        env.update(PYTHONPATH=path, RAY_AUTH_MODE="token")
        command = ["ip", "netns", "exec", "nsv-head", CLI, "run", *args, "--address", self.address]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def revive(self, machine: str) -> None:
        done = script("revive", machine)
        if done.returncode != 0:
            raise RuntimeError(f"revive failed: {done.stderr.strip()[-1500:]}")

    def switch(self) -> dict[str, Any]:
        return ask({"op": "status"})

    def down(self) -> subprocess.CompletedProcess[str]:
        return script("down")


def leftovers(inodes: set[int]) -> list[str]:
    """What of ours is still on this machine: namespaces, links, the state file, and any process
    still in one of the namespaces (by inode: it would keep a deleted namespace alive)."""
    names = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout.split()
    found = [f"namespace {n}" for n in names if n.startswith(f"{PREFIX}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f": {PREFIX}" in line]
    if (STATE_DIR / "state.json").exists():
        found.append(f"state {STATE_DIR / 'state.json'}")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                netns = os.stat(f"/proc/{entry}/ns/net").st_ino
                switch = b"cluster/switch.py" in Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if netns in inodes or switch:
                found.append(f"process {entry}")
    return found
