"""The netns cluster's pieces that need neither root nor Ray: the switch's forwarding, delays and
faults (ports are pipes here instead of TAP devices), which links a partition cuts at the switch,
how a run recognises the cluster, the gorilla's method text, loopback addresses, and the script's
one-line refusals."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from nanoservices.runtime.connection import loopback
from nanoservices.runtime.machines import MachineLoss, describe
from nanoservices.runtime.netfaults import description, link_cuts

REPO = Path(__file__).resolve().parents[1]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cluster_{name}", REPO / "cluster" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


switch_module = load("switch")
RTT = {"local": 0.0001, "zone": 0.001, "region": 0.07}
MAC = [bytes([2, 0, 0, 0, 0, i]) for i in range(4)]
BROADCAST = b"\xff" * 6


def frame(src: int, dst: bytes, body: bytes = b"x") -> bytes:
    return dst + MAC[src] + b"\x08\x00" + body


@pytest.fixture
def switch() -> Iterator[tuple[object, list[int]]]:
    """Four ports: the head and zoneA, zoneB of us-east-1, zoneA of us-west-2; each port's frames
    come out of a pipe the test reads."""
    Port = switch_module.Port
    places = [("us-east-1", "zoneA"), ("us-east-1", "zoneA"), ("us-east-1", "zoneB"), ("us-west-2", "zoneA")]
    ports, readers = [], []
    for i, (region, zone) in enumerate(places):
        r, w = os.pipe()
        os.set_blocking(r, False)
        ports.append(Port(f"nsv{i}", f"10.213.0.{i + 2}", None, region, zone, w))
        readers.append(r)
    yield switch_module.Switch(ports, dict(RTT)), readers
    for port in ports:
        os.close(port.fd)
    for r in readers:
        os.close(r)


def received(reader: int) -> list[bytes]:
    try:
        return [os.read(reader, 65536)]
    except BlockingIOError:
        return []


def test_a_frame_waits_half_the_pairs_round_trip_then_goes_out(switch: tuple[object, list[int]]) -> None:
    sw, readers = switch
    sw.frame_in(0, frame(0, BROADCAST), 100.0)  # type: ignore[attr-defined]
    assert sw.flush(100.0) == pytest.approx(100.0 + RTT["local"] / 2)  # type: ignore[attr-defined]
    assert [received(r) for r in readers] == [[], [], [], []]
    sw.flush(100.0 + RTT["local"] / 2)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [0, 1, 0, 0]  # same zone first
    sw.flush(100.0 + RTT["zone"] / 2)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [0, 0, 1, 0]
    assert sw.flush(100.0 + RTT["zone"] / 2) == pytest.approx(100.0 + RTT["region"] / 2)  # type: ignore[attr-defined]
    sw.flush(100.0 + RTT["region"] / 2)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [0, 0, 0, 1]
    assert sw.flush(200.0) is None  # type: ignore[attr-defined]


def test_a_learned_address_goes_to_its_port_only(switch: tuple[object, list[int]]) -> None:
    sw, readers = switch
    sw.frame_in(3, frame(3, BROADCAST), 0.0)  # type: ignore[attr-defined]
    sw.flush(1.0)  # type: ignore[attr-defined]
    for r in readers:
        received(r)
    sw.frame_in(0, frame(0, MAC[3], b"hello"), 1.0)  # type: ignore[attr-defined]
    sw.flush(2.0)  # type: ignore[attr-defined]
    assert [received(r) for r in readers] == [[], [], [], [frame(0, MAC[3], b"hello")]]


def test_a_machine_off_the_network_hears_and_says_nothing(switch: tuple[object, list[int]]) -> None:
    sw, readers = switch
    sw.frame_in(2, frame(2, BROADCAST), 0.0)  # type: ignore[attr-defined]
    sw.frame_in(0, frame(0, BROADCAST), 0.0)  # type: ignore[attr-defined]
    answer = switch_module.command(sw, {"op": "isolate", "ips": ["10.213.0.4"]})
    assert answer == {"ok": True, "killed": {}}
    sw.flush(1.0)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [0, 1, 0, 1]  # the queued frames to/from it are dropped
    sw.frame_in(1, frame(1, MAC[2]), 1.0)  # type: ignore[attr-defined]
    sw.flush(2.0)  # type: ignore[attr-defined]
    assert received(readers[2]) == []
    assert switch_module.command(sw, {"op": "restore", "ips": ["10.213.0.4"]}) == {"ok": True}
    sw.frame_in(1, frame(1, MAC[2]), 2.0)  # type: ignore[attr-defined]
    sw.flush(3.0)  # type: ignore[attr-defined]
    assert len(received(readers[2])) == 1


def test_a_cut_link_drops_only_between_its_two_ends(switch: tuple[object, list[int]]) -> None:
    sw, readers = switch
    answer = switch_module.command(sw, {"op": "cut", "pairs": [["10.213.0.3", "10.213.0.4"]]})
    assert answer == {"ok": True, "pairs": 1}
    sw.frame_in(1, frame(1, BROADCAST), 0.0)  # type: ignore[attr-defined]
    sw.flush(1.0)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [1, 0, 0, 1]
    status = switch_module.command(sw, {"op": "status"})
    assert status["cut"] == [["10.213.0.3", "10.213.0.4"]] and status["counts"]["dropped"] == 1
    switch_module.command(sw, {"op": "heal", "pairs": [["10.213.0.4", "10.213.0.3"]]})
    sw.frame_in(1, frame(1, BROADCAST), 1.0)  # type: ignore[attr-defined]
    sw.flush(2.0)  # type: ignore[attr-defined]
    assert [len(received(r)) for r in readers] == [1, 0, 1, 1]


def test_commands_the_switch_cannot_do_are_refused(switch: tuple[object, list[int]]) -> None:
    sw, _ = switch
    assert switch_module.command(sw, {"op": "reboot"}) == {"ok": False, "error": "unknown op 'reboot'"}
    with pytest.raises(ValueError, match=r"no port has address 10\.9\.9\.9"):
        switch_module.command(sw, {"op": "isolate", "ips": ["10.9.9.9"]})


def test_a_partition_cuts_links_between_machines_and_leaves_the_rest_to_the_senders() -> None:
    ip_of_host = {0: "10.213.0.11", 1: "10.213.0.13", 2: "10.213.0.2", 3: "10.213.0.11"}
    blocked = {0: frozenset({1, 2}), 1: frozenset({0, 3}), 2: frozenset({0}), 3: frozenset({1})}
    links, residual = link_cuts(blocked, ip_of_host, {"10.213.0.2"})
    assert links == {frozenset({"10.213.0.11", "10.213.0.13"})}
    assert residual == {0: frozenset({2}), 1: frozenset(), 2: frozenset({0}), 3: frozenset()}


def test_a_run_is_on_the_netns_cluster_only_when_every_node_is_one_of_its_machines(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"machines": [{"ip": "10.213.0.2"}, {"ip": "10.213.0.11"}]}))
    assert description(["10.213.0.2", "10.213.0.11"], path) is not None
    assert description(["127.0.0.1"], path) is None  # a laptop run with a stale file
    assert description([], path) is None
    assert description(["10.213.0.2"], tmp_path / "missing.json") is None


def test_the_gorillas_method_says_the_machine_went_off_the_network_first() -> None:
    loss = MachineLoss(("n1",), (), (1,))
    assert describe(loss, {"n1": None}, off_network=True) == (
        "node n1 taken off the network at the switch (frames dropped both ways: peers time out), then every"
        " process in its namespace SIGKILLed (cluster mode: no freeze, counts die with the hosts)"
    )
    assert describe(loss, {"n1": None}).startswith("raylet of node n1 killed")


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:6379", True), ("127.0.1.1:6379", True), ("localhost:6379", True), ("[::1]:6379", True),
     ("10.213.0.2:6379", False), ("auto", False), ("ray://127.0.0.1", True)],
)  # fmt: skip
def test_loopback_heads_are_recognised(address: str, expected: bool) -> None:
    assert loopback(address) is expected


def test_without_root_the_script_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load("netns")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for step in (module.preflight, lambda: module.down(None)):
        with pytest.raises(SystemExit) as exit_info:
            step()
        assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "cluster: needs root (network namespaces and TAP devices); run it with sudo",
        "cluster: needs root; run it with sudo",
    ]


def test_a_bad_delay_is_refused_in_one_line() -> None:
    module = load("netns")
    with pytest.raises(SystemExit) as exit_info:
        module.duration("seventy")
    assert exit_info.value.code == 2
    assert module.duration("70ms") == pytest.approx(0.07) and module.duration("0.1ms") == pytest.approx(
        0.0001
    )
