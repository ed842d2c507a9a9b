"""fsm at spigo's scale without Ray: plans of 100,000 and 200,000 pirates, the packing rule, the
opening moves as the hosts receive them, and spigo's Delivered line."""

from __future__ import annotations

import ipaddress
import random

import pytest

from nanoservices.builtin import HOSTS_PER_PREFIX, PIRATE_BLOCKS, fsm_plan, pirate_address
from nanoservices.messages import Kind, decode_batch
from nanoservices.packages.pirate import opening_moves
from nanoservices.problems import InputError
from nanoservices.runtime.fsm import delivered_line, go_duration, instances_per_host, opening


@pytest.mark.parametrize("population", [100_000, 200_000])
def test_large_fsm_plans_have_unique_names_and_addresses(population: int) -> None:
    plan = fsm_plan(population)
    assert len(plan.instances) == population
    assert len({s.name for s in plan.instances}) == population
    assert len({s.node for s in plan.instances}) == population
    ips = [s.ip for s in plan.instances]
    assert len(set(ips)) == population
    for ip in (ips[0], ips[HOSTS_PER_PREFIX - 1], ips[HOSTS_PER_PREFIX], ips[-1]):
        address = ipaddress.IPv4Address(ip)  # every octet valid, unlike spigo's past 65,535
        assert not (address.packed[2] == 0 and address.packed[3] == 0)  # never a block's .0.0
    last = plan.instances[-1]
    assert last.name == f"fsm.atlantic.bermuda..blackbeard{population}...blackbeard.pirate"


def test_addresses_fill_spigos_block_then_the_next() -> None:
    assert pirate_address(1) == "54.198.0.1"  # spigo's first pirate
    assert pirate_address(HOSTS_PER_PREFIX) == "54.198.255.254"
    assert pirate_address(HOSTS_PER_PREFIX + 1) == "54.199.0.1"
    assert pirate_address(PIRATE_BLOCKS * HOSTS_PER_PREFIX) == "54.255.255.254"


def test_more_pirates_than_addresses_is_refused_before_planning() -> None:
    with pytest.raises(InputError) as caught:
        fsm_plan(PIRATE_BLOCKS * HOSTS_PER_PREFIX + 1)
    (problem,) = caught.value.problems
    assert (problem.source, problem.where) == ("fsm", "--scale")


@pytest.mark.parametrize(
    ("arch", "scale", "given", "cpus", "expected"),
    [
        ("fsm", 100_000, None, 2, 50_000),
        ("fsm", 100_001, None, 2, 50_001),  # never more hosts than CPUs
        ("fsm", 3, None, 8, 1),
        ("fsm", 100_000, 7, 2, 7),  # an explicit -K wins
        ("netflixoss", 100, None, 2, 1),  # other architectures: one actor per instance
        ("lamp", 100, 100, 2, 100),
    ],
)
def test_instances_per_host(arch: str, scale: int, given: int | None, cpus: int, expected: int) -> None:
    assert instances_per_host(arch, scale, given, cpus) == expected


def test_opening_batches_hold_every_move_for_the_pirates_of_their_host() -> None:
    names = [s.name for s in fsm_plan(30).instances]
    host_of = {name: i % 3 for i, name in enumerate(names)}
    built = opening(names, host_of, seed=5)
    moves = opening_moves(names, random.Random("5:fsm"))
    assert built.total == len(moves) == 4 * len(names)
    received = []
    for host, data in built.batches.items():
        batch = decode_batch(data)
        assert len(batch) == built.sent[host]
        assert {host_of[m.target] for m in batch} == {host}
        received += [(m.target, m.kind, m.payload) for m in batch]
        assert {m.sender for m in batch} == {"fsm"}
    assert sorted(received) == sorted(moves)
    assert {kind for _, kind, _ in received} == {Kind.NAME_DROP, Kind.GOLD_COIN, Kind.CHAT}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1.2344, "1.234s"),
        (1.2346, "1.235s"),
        (0.0005, "500µs"),
        (1.5, "1.5s"),
        (2.0, "2s"),
        (0.85, "850ms"),
        (0.0123456, "12ms"),
        (0.000012, "12µs"),
        (0.0, "0s"),
        (123.5, "2m3.5s"),
        (3723.0, "1h2m3s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_delivered_line_is_spigos_and_says_what_was_not_delivered() -> None:
    assert delivered_line(400_000, 400_000, 0.85) == "fsm: Delivered 400000 messages in 850ms"
    assert delivered_line(8, 6, 2.0) == "fsm: Delivered 6 messages in 2s (2 of the 8 sent were not delivered)"
