"""The netns cluster's network: a learning Ethernet switch in user space whose ports are TAP devices,
one inside each namespace `netns.py up` made (and one, `nsv-host`, in the root namespace). Frames
between two ports wait half the round-trip time of the pair (the same machine's zone, another zone,
another region) before they go out: the delay is in the network, not in the simulation. This
kernel has no `netem` qdisc, so the delay cannot be a `tc` setting; a switch also gives faults
their real shape: a cut link or a machine taken off the network drops frames silently, so peers
see timeouts, never a reset.

Started by `netns.py up` as root in the root namespace: it makes the TAP devices (they exist only
while this process holds them, so its death is every cable pulled), moves them into the
namespaces, prints `ready` and serves JSON-line commands on a Unix socket (`isolate`, `restore`,
`cut`, `heal`, `status`; nanoservices.runtime.netfaults is the client)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
MTU = 9000  # AWS's in-VPC MTU (9001): fewer frames through this process for bulk transfers
FRAME = 65536
BURST = 64  # frames read from one port per wake-up, so one busy port cannot starve the others
SLEEP_BELOW = 0.001  # epoll waits in whole milliseconds: shorter waits sleep instead


@dataclass
class Port:
    name: str  # TAP device name
    ip: str
    netns: str | None  # None: the root namespace
    region: str
    zone: str
    fd: int = -1


@dataclass
class Switch:
    ports: list[Port]
    rtt: dict[str, float]  # "local", "zone", "region": round-trip seconds
    isolated: set[int] = field(default_factory=set)
    cut: set[frozenset[int]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"forwarded": 0, "dropped": 0, "flooded": 0})

    def __post_init__(self) -> None:
        self.mac_port: dict[bytes, int] = {}
        self.queues: dict[tuple[int, int], deque[tuple[float, bytes]]] = {}
        self.delay = [[self._one_way(a, b) for b in self.ports] for a in self.ports]
        self.by_ip = {p.ip: i for i, p in enumerate(self.ports)}

    def _one_way(self, a: Port, b: Port) -> float:
        if a.region != b.region:
            return self.rtt["region"] / 2
        return self.rtt["local" if a.zone == b.zone else "zone"] / 2

    def blocked(self, a: int, b: int) -> bool:
        return a in self.isolated or b in self.isolated or frozenset((a, b)) in self.cut

    def frame_in(self, port: int, frame: bytes, now: float) -> None:
        """Learn the sender's MAC; send to the destination's port, or flood when unknown/broadcast."""
        if len(frame) < 14:
            return
        self.mac_port[frame[6:12]] = port
        dst = frame[:6]
        out = None if dst[0] & 1 else self.mac_port.get(dst)
        if out is None:
            self.counts["flooded"] += 1
            outs: Sequence[int] = [o for o in range(len(self.ports)) if o != port]
        else:
            outs = (out,) if out != port else ()
        for o in outs:
            if self.blocked(port, o):
                self.counts["dropped"] += 1
                continue
            delay = self.delay[port][o]
            if delay <= 0:
                self._send(port, o, frame)
            else:
                self.queues.setdefault((port, o), deque()).append((now + delay, frame))

    def flush(self, now: float) -> float | None:
        """Send every frame due; when the next one is due (None: nothing waits)."""
        soonest = None
        for (a, b), queue in self.queues.items():
            while queue and queue[0][0] <= now:
                frame = queue.popleft()[1]
                if self.blocked(a, b):
                    self.counts["dropped"] += 1
                else:
                    self._send(a, b, frame)
            if queue and (soonest is None or queue[0][0] < soonest):
                soonest = queue[0][0]
        return soonest

    def _send(self, a: int, b: int, frame: bytes) -> None:
        try:
            os.write(self.ports[b].fd, frame)
            self.counts["forwarded"] += 1
        except OSError:  # the device's queue is full or it is going away: a lost frame, as on a wire
            self.counts["dropped"] += 1

    def ports_of(self, ips: Sequence[str]) -> list[int]:
        unknown = [ip for ip in ips if ip not in self.by_ip]
        if unknown:
            raise ValueError(f"no port has address {', '.join(unknown)}")
        return [self.by_ip[ip] for ip in ips]


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)


def wire(port: Port, prefix: int) -> None:
    """The TAP device into its namespace, with its address and nothing else: no default route,
    so the namespace reaches only the other ports of this switch."""
    port.fd = open_tap(port.name)
    if port.netns is not None:
        ip("link", "set", port.name, "netns", port.netns)
    ip("link", "set", port.name, "mtu", str(MTU), netns=port.netns)
    ip("addr", "add", f"{port.ip}/{prefix}", "dev", port.name, netns=port.netns)
    ip("link", "set", port.name, "up", netns=port.netns)


def kill_namespace(netns: str) -> int:
    """SIGKILL every process in the namespace (a machine losing power); how many."""
    found = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
    killed = 0
    for pid in found.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            continue
    return killed


def command(switch: Switch, request: dict[str, object]) -> dict[str, object]:
    op = request.get("op")
    if op == "status":
        isolated = [switch.ports[i].ip for i in sorted(switch.isolated)]
        cut = sorted(sorted(switch.ports[i].ip for i in pair) for pair in switch.cut)
        return {"ok": True, "counts": switch.counts, "isolated": isolated, "cut": cut}
    if op in ("isolate", "restore"):
        ports = switch.ports_of([str(x) for x in request.get("ips", [])])  # type: ignore[attr-defined]
        if op == "restore":
            switch.isolated.difference_update(ports)
            return {"ok": True}
        switch.isolated.update(ports)
        killed = {}
        if request.get("kill"):
            for i in ports:
                netns = switch.ports[i].netns
                if netns is not None:
                    killed[netns] = kill_namespace(netns)
        return {"ok": True, "killed": killed}
    if op in ("cut", "heal"):
        pairs = [frozenset(switch.ports_of([str(a), str(b)])) for a, b in request.get("pairs", [])]  # type: ignore[attr-defined]
        if op == "cut":
            switch.cut.update(pairs)
        else:
            switch.cut.difference_update(pairs)
        return {"ok": True, "pairs": len(pairs)}
    return {"ok": False, "error": f"unknown op {op!r}"}


def serve(switch: Switch, control: socket.socket) -> None:
    poller = select.epoll()
    by_fd = {p.fd: i for i, p in enumerate(switch.ports)}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    control.setblocking(False)
    poller.register(control.fileno(), select.EPOLLIN)
    clients: dict[int, tuple[socket.socket, bytearray]] = {}
    soonest: float | None = None
    while True:
        wait = None if soonest is None else soonest - time.monotonic()
        if wait is not None and wait < SLEEP_BELOW:
            if wait > 0:
                time.sleep(wait)
            events = poller.poll(0)
        else:
            events = poller.poll(-1 if wait is None else wait)
        now = time.monotonic()
        for fd, _ in events:
            port = by_fd.get(fd)
            if port is not None:
                for _ in range(BURST):
                    try:
                        frame = os.read(fd, FRAME)
                    except BlockingIOError:
                        break
                    switch.frame_in(port, frame, now)
            elif fd == control.fileno():
                conn, _ = control.accept()
                conn.setblocking(False)
                clients[conn.fileno()] = (conn, bytearray())
                poller.register(conn.fileno(), select.EPOLLIN)
            elif fd in clients:
                _client(switch, poller, clients, fd)
        soonest = switch.flush(time.monotonic())


def _client(
    switch: Switch, poller: select.epoll, clients: dict[int, tuple[socket.socket, bytearray]], fd: int
) -> None:
    conn, buffer = clients[fd]
    try:
        data = conn.recv(65536)
    except BlockingIOError:
        return
    buffer += data
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        try:
            answer = command(switch, json.loads(line))
        except (ValueError, TypeError, AttributeError) as error:
            answer = {"ok": False, "error": str(error)}
        conn.setblocking(True)
        conn.sendall(json.dumps(answer).encode() + b"\n")
        conn.setblocking(False)
    if not data:
        poller.unregister(fd)
        conn.close()
        del clients[fd]


def main(description: Path) -> None:
    spec = json.loads(description.read_text())
    ports = [Port(p["tap"], p["ip"], p["netns"], p["region"], p["zone"]) for p in spec["ports"]]
    switch = Switch(ports, spec["rtt"])
    for port in ports:
        wire(port, int(spec["prefix"]))
    path = Path(spec["socket"])
    path.unlink(missing_ok=True)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind(str(path))
    os.chmod(path, 0o600)
    control.listen(16)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the starter stops reading: later writes must not block or raise
    serve(switch, control)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
