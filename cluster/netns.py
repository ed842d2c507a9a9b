"""A cluster of network namespaces on this machine (`make cluster-up` / `make cluster-down`): a head
namespace and one per zone, each running one Ray node on its own address, joined by a user-space
switch (cluster/switch.py) that delays frames as AWS's network would. See cluster/README.md.

Everything it makes is written to the state directory before it is made, so `down` removes it all
even after a crash, and only what it recorded: its namespaces (and every process inside them), the
switch process (whose TAP devices die with it), the Ray temp directory."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from nanoservices.geography import REGIONS
from nanoservices.runtime.netfaults import DESCRIPTION, SOCKET, STATE_DIR
from nanoservices.runtime.zones import region_resource, zone_resource

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
STATE = STATE_DIR / "state.json"
ADDRESS = STATE_DIR / "address"
RAY_TEMP = Path("/tmp/nsv-ray")  # short: Ray's Unix socket paths must stay under 107 characters
SUBNET = "10.213.0"  # 10.213.0.0/24: only between the ports of this script's switch, never routed
PREFIX = 24
PORT = 6379
HOST_IP, HEAD_IP = f"{SUBNET}.1", f"{SUBNET}.2"
# Ray marks a node dead after health_check_failure_threshold checks missed by
# health_check_timeout_ms, one every health_check_period_ms: ~10 s for a machine off the network.
SYSTEM_CONFIG = {
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 2000,
    "health_check_failure_threshold": 5,
}


def fail(message: str, code: int = 2) -> None:
    sys.stderr.write(f"cluster: {message}\n")
    raise SystemExit(code)


def run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False, env=env)
    if check and done.returncode != 0:
        fail(f"{' '.join(args[:6])} failed: {(done.stderr or done.stdout).strip()[-300:]}", 1)
    return done


def duration(text: str) -> float:
    """Seconds from `70ms`, `0.1ms`, `1s` (or a bare number of milliseconds)."""
    number, scale = text, 1e-3
    for suffix, factor in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if text.endswith(suffix):
            number, scale = text[: -len(suffix)], factor
            break
    try:
        value = float(number) * scale
    except ValueError:
        fail(f"{text!r} is not a duration; write e.g. 70ms or 0.1ms")
    if value < 0 or value > 10:
        fail(f"{text!r} is out of range; give 0 to 10 s")
    return value


def machines(zones: int, regions: int) -> list[dict[str, str]]:
    """The head, then one machine per zone of each region, with its address and Ray resources."""
    if not 1 <= regions <= len(REGIONS) or not 1 <= zones <= 3:
        fail(f"ZONES={zones} REGIONS={regions}: give 1-3 zones and 1-{len(REGIONS)} regions")
    head = {"name": "head", "netns": "nsv-head", "ip": HEAD_IP, "region": REGIONS[0], "zone": "zoneA"}
    rows = [{**head, "resources": "{}"}]
    for r in range(regions):
        for z in range(zones):
            region, zone = REGIONS[r], f"zone{'ABC'[z]}"
            az = zone_resource(region, zone).removeprefix("zone:")
            resources = {zone_resource(region, zone): 1000, region_resource(region): 1000}
            rows.append({"name": az, "netns": f"nsv-{az}", "ip": f"{SUBNET}.{10 + len(rows)}",
                         "region": region, "zone": zone, "resources": json.dumps(resources)})  # fmt: skip
    return rows


def save(state: dict[str, object]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1))


def preflight() -> None:
    if os.geteuid() != 0:
        fail("needs root (network namespaces and TAP devices); run it with sudo")
    if shutil.which("ip") is None:
        fail("needs the `ip` command (iproute2)")
    probe = "nsv-probe"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        fail(f"network namespaces are not allowed here: {made.stderr.strip()}")
    run("ip", "netns", "del", probe, check=False)
    if not Path("/dev/net/tun").exists():
        fail("no /dev/net/tun: TAP devices are not available here")


def ray_env() -> dict[str, str]:
    """Token auth on, with the token Ray reads by default (~/.ray/auth_token; the driver finds it too)."""
    token = Path.home() / ".ray" / "auth_token"
    if not token.exists():
        run(str(BIN / "ray"), "get-auth-token", "--generate")
    env = {
        k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    }  # 0 means loopback only
    return {**env, "RAY_AUTH_MODE": "token"}


def start_ray(row: dict[str, str], env: dict[str, str]) -> subprocess.Popen[str]:
    common = ["--node-ip-address", row["ip"], "--num-cpus", "2", "--disable-usage-stats",
              "--object-store-memory", str(200 << 20), "--resources", row["resources"]]  # fmt: skip
    if row["name"] == "head":
        args = ["--head", "--port", str(PORT), "--include-dashboard", "false", "--temp-dir", str(RAY_TEMP),
                "--system-config", json.dumps(SYSTEM_CONFIG)]  # fmt: skip
    else:
        args = ["--address", f"{HEAD_IP}:{PORT}"]
    command = ["ip", "netns", "exec", row["netns"], str(BIN / "ray"), "start", *args, *common]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def kill_inside(netns: str) -> None:
    """SIGKILL every process in one of this script's namespaces (never anything outside them)."""
    for pid in run("ip", "netns", "pids", netns, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            continue


def start_node(row: dict[str, str], env: dict[str, str], attempts: int = 3) -> None:
    """`ray start` in the row's namespace. Ray gives a new raylet 30 s to register (fixed); on a busy
    machine that is not always enough, so a node that did not come up is cleared and started again."""
    for attempt in range(1, attempts + 1):
        process = start_ray(row, env)
        out, _ = process.communicate(timeout=300)
        if process.returncode == 0:
            return
        kill_inside(row["netns"])
        if attempt == attempts:
            why = out.strip()[-300:]
            fail(f"ray start on {row['name']} failed ({why}); `make cluster-down` removes the rest", 1)
        sys.stderr.write(
            f"cluster: ray start on {row['name']} failed (attempt {attempt}); starting it again\n"
        )


def up(args: argparse.Namespace) -> None:
    preflight()
    if STATE.exists():
        fail(f"a cluster is already up (state in {STATE}); run `make cluster-down` first")
    rows = machines(args.zones, args.regions)
    rtt = {
        "local": duration(args.local_rtt),
        "zone": duration(args.zone_rtt),
        "region": duration(args.region_rtt),
    }
    state: dict[str, object] = {
        "namespaces": [],
        "switch": None,
        "ray_temp": str(RAY_TEMP),
        "tap": "nsv-host",
    }
    save(state)
    for row in rows:
        state["namespaces"].append(row["netns"])  # type: ignore[attr-defined]
        save(state)
        run("ip", "netns", "add", row["netns"])
        run("ip", "-n", row["netns"], "link", "set", "lo", "up")
    host = {"tap": "nsv-host", "ip": HOST_IP, "netns": None, "region": REGIONS[0], "zone": "zoneA"}
    ports = [
        host,
        *(
            {"tap": f"nsv{i}", **{k: r[k] for k in ("ip", "netns", "region", "zone")}}
            for i, r in enumerate(rows)
        ),
    ]
    address = f"{HEAD_IP}:{PORT}"
    description = {"prefix": PREFIX, "socket": str(SOCKET), "rtt": rtt, "ports": ports, "address": address,
                   "machines": rows, "host_ip": HOST_IP}  # fmt: skip
    DESCRIPTION.write_text(json.dumps(description, indent=1))
    log = (STATE_DIR / "switch.log").open("w")
    command = [sys.executable, str(HERE / "switch.py"), str(DESCRIPTION)]
    switch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    state["switch"] = switch.pid
    save(state)
    assert switch.stdout is not None
    if switch.stdout.readline().strip() != "ready":
        fail(f"the switch did not start; see {STATE_DIR / 'switch.log'}", 1)
    env = ray_env()
    for row in rows:  # one at a time: nodes starting together on one machine race for the session's files
        start_node(row, env)
    ADDRESS.write_text(f"{HEAD_IP}:{PORT}\n")
    print_usage(rows, rtt)


def print_usage(rows: list[dict[str, str]], rtt: dict[str, float]) -> None:
    for row in rows:
        print(f"{row['netns']:<18} {row['ip']:<12} {row['resources']}")
    delays = ", ".join(f"{k} {v * 1000:g} ms" for k, v in rtt.items())
    print(f"round trips: {delays}; this machine is {HOST_IP} on the same network")
    print(f"address: {HEAD_IP}:{PORT} (also in {ADDRESS})")
    driver = "ip netns exec nsv-head env RAY_AUTH_MODE=token .venv/bin/nanoservices"
    print(f"run:     {driver} run netflixoss -K 50 --address {HEAD_IP}:{PORT}")


def is_switch(pid: int) -> bool:
    try:
        return "switch.py" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def down(_: argparse.Namespace) -> None:
    if os.geteuid() != 0:
        fail("needs root; run it with sudo")
    if not STATE.exists():
        print("cluster: nothing to remove")
        return
    state = json.loads(STATE.read_text())
    existing = set(run("ip", "netns", "list", check=False).stdout.split())
    ours = [netns for netns in state["namespaces"] if netns in existing]
    for _ in range(20):  # again while any is left: a process may have forked before it was killed
        if not any(run("ip", "netns", "pids", netns, check=False).stdout.split() for netns in ours):
            break
        for netns in ours:
            kill_inside(netns)
    switch = state.get("switch")
    if switch and is_switch(int(switch)):
        os.kill(int(switch), signal.SIGKILL)
    for netns in state["namespaces"]:
        if netns in existing:
            run("ip", "netns", "del", netns, check=False)
    if run("ip", "link", "show", state["tap"], check=False).returncode == 0:
        run("ip", "link", "del", state["tap"], check=False)
    shutil.rmtree(state["ray_temp"], ignore_errors=True)
    for path in (DESCRIPTION, ADDRESS, SOCKET, STATE_DIR / "switch.log"):
        path.unlink(missing_ok=True)
    STATE.unlink()
    print(f"cluster: removed {len(state['namespaces'])} namespaces, the switch and its links")


def status(_: argparse.Namespace) -> None:
    from nanoservices.runtime.netfaults import ask

    if not STATE.exists():
        print("cluster: none")
        return
    print(ADDRESS.read_text().strip() if ADDRESS.exists() else "no address (start incomplete)")
    print(json.dumps(ask({"op": "status"})))


def revive(args: argparse.Namespace) -> None:
    """A new machine for a zone a gorilla took: back on the network, a fresh Ray node on it."""
    from nanoservices.runtime.netfaults import ask

    spec = json.loads(DESCRIPTION.read_text())
    (row,) = [r for r in spec["machines"] if r["name"] == args.machine] or [None]
    if row is None:
        fail(f"no machine {args.machine!r}; one of {', '.join(r['name'] for r in spec['machines'][1:])}")
    answer = ask({"op": "restore", "ips": [row["ip"]]})
    if not answer.get("ok"):
        fail(f"the switch refused: {answer.get('error')}", 1)
    start_node(row, ray_env())
    print(f"cluster: {row['name']} is back at {row['ip']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="cluster/netns.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="make the namespaces, the switch and a Ray node in each")
    start.add_argument("--zones", type=int, default=3)
    start.add_argument("--regions", type=int, default=1)
    start.add_argument("--local-rtt", default="0.1ms", help="round trip within a zone (head and zoneA)")
    start.add_argument("--zone-rtt", default="1ms", help="round trip between zones of a region")
    start.add_argument("--region-rtt", default="70ms", help="round trip between regions")
    start.set_defaults(func=up)
    sub.add_parser("down", help="remove everything `up` made (safe twice)").set_defaults(func=down)
    sub.add_parser("status", help="the address and the switch's counters").set_defaults(func=status)
    back = sub.add_parser("revive", help="restore a machine a gorilla took, with a new Ray node")
    back.add_argument("machine", help="its name, e.g. us-east-1b")
    back.set_defaults(func=revive)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
