"""pirates: at most DUNBAR buddies and never themselves; gold only moves, never goes negative."""

from __future__ import annotations

import random
from collections import Counter

from fakes import FakeNetwork, make_spec
from nanoservices.messages import Kind, Message
from nanoservices.packages.pirate import DUNBAR, Pirate, opening_moves


def _pirates(count: int) -> tuple[FakeNetwork, list[str]]:
    net = FakeNetwork(seed="fsm")
    names = []
    for i in range(1, count + 1):
        spec = make_spec("blackbeard", "pirate", i, arch="fsm", region="atlantic", zone="bermuda")
        net.add(spec)
        names.append(spec.name)
    net.start_all()
    return net, names


def _pirate(net: FakeNetwork, name: str) -> Pirate:
    pirate = net.behaviours[name]
    assert isinstance(pirate, Pirate)
    return pirate


def _tell(net: FakeNetwork, target: str, kind: Kind, payload: str, sender: str = "fsm") -> None:
    net.post(Message(kind=kind, sender=sender, target=target, payload=payload))
    net.run_until_idle()


def test_dunbar_limit_and_no_self_buddy() -> None:
    net, names = _pirates(15)
    me = names[0]
    _tell(net, me, Kind.NAME_DROP, me)
    for other in names[1:]:
        _tell(net, me, Kind.NAME_DROP, other)
        _tell(net, me, Kind.NAME_DROP, other)  # a repeat changes nothing
    buddies = list(_pirate(net, me).buddies)
    assert buddies == names[1 : 1 + DUNBAR]
    assert net.edges == [(me, b) for b in buddies]


def test_gold_coins_credit_known_buddies_only() -> None:
    net, names = _pirates(3)
    me, buddy, stranger = names
    _tell(net, me, Kind.NAME_DROP, buddy)
    _tell(net, me, Kind.GOLD_COIN, "5", sender=buddy)
    _tell(net, me, Kind.GOLD_COIN, "7", sender=stranger)
    _tell(net, me, Kind.GOLD_COIN, "lots", sender=stranger)
    pirate = _pirate(net, me)
    assert (pirate.gold, pirate.buddies) == (12, {buddy: 5})


def test_chat_starts_one_ticker_in_milliseconds() -> None:
    net, names = _pirates(2)
    _tell(net, names[0], Kind.CHAT, "0")  # out of range: ignored
    _tell(net, names[0], Kind.CHAT, "250")
    _tell(net, names[0], Kind.CHAT, "900")  # the pace is set once
    assert [interval for interval, _ in net.timers[names[0]]] == [0.25]


def test_gold_without_buddies_does_not_crash() -> None:
    net, names = _pirates(1)
    _tell(net, names[0], Kind.GOLD_COIN, "50")
    _tell(net, names[0], Kind.CHAT, "100")
    net.tick(names[0], 50)
    assert _pirate(net, names[0]).gold == 50


def test_a_pirate_society_conserves_gold_and_respects_dunbar() -> None:
    net, names = _pirates(40)
    moves = opening_moves(names, random.Random(40))
    for target, kind, payload in moves:
        net.post(Message(kind=kind, sender="fsm", target=target, payload=payload))
    net.run_until_idle()
    total = sum(_pirate(net, n).gold for n in names)
    assert total > 0
    rng = random.Random(7)
    for _ in range(2000):
        net.tick(rng.choice(names))
        assert all(_pirate(net, n).gold >= 0 for n in names)
    assert sum(_pirate(net, n).gold for n in names) == total
    assert net.sent(Kind.GOLD_COIN, sender=names[0]) or net.sent(Kind.NAME_DROP, sender=names[0])
    for name in names:
        buddies = _pirate(net, name).buddies
        assert len(buddies) <= DUNBAR and name not in buddies
    assert len(set(net.edges)) == len(net.edges)  # an edge is recorded once, on acceptance


def test_opening_moves_are_two_introductions_gold_and_a_pace() -> None:
    names = [f"fsm.atlantic.bermuda..blackbeard{i:02d}...blackbeard.pirate" for i in range(1, 6)]
    moves = opening_moves(names, random.Random(1))
    assert len(moves) == 4 * len(names)
    assert Counter(target for target, _, _ in moves) == {n: 4 for n in names}
    for i, name in enumerate(names):
        mine = moves[4 * i : 4 * i + 4]
        assert [kind for _, kind, _ in mine] == [Kind.NAME_DROP, Kind.NAME_DROP, Kind.GOLD_COIN, Kind.CHAT]
        assert mine[0][2] in names and mine[1][2] in names
        assert 0 <= int(mine[2][2]) <= 99 and 100 <= int(mine[3][2]) <= 9999
        assert all(target == name for target, _, _ in mine)
    assert opening_moves(names, random.Random(1)) == moves
