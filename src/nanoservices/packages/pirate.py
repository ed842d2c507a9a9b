"""pirate, the fsm architecture's peer: a social network of buddies that gossip and trade gold.

Pirates learn buddies from NameDrops (at most DUNBAR, never themselves), and on every chat tick
either introduce their first buddy to the others or give a random buddy some of their gold.
spigo's pirates reseed the process-wide random generator on Chat; these use only their own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from nanoservices.messages import Kind, Message
from nanoservices.packages.base import Behaviour, InstanceContext

DUNBAR = 10  # most buddies a pirate keeps
MIN_CHAT_MS, MAX_CHAT_MS = 1, 3_600_000  # spigo accepts 1 ms to 1 h


class Pirate(Behaviour):
    packages = ("pirate",)
    cross_zone = True
    # Chatting is the fsm's traffic: shutdown stops every pirate's ticker first, as it stops the
    # denominators', so what is left to drain is bounded (with -d 0 spigo's pirates barely talk).
    generates_traffic = True
    fsm_controlled = True

    def __init__(self, ctx: InstanceContext) -> None:
        super().__init__(ctx)
        self.buddies: dict[str, int] = {}  # buddy name -> coins received from it, in meeting order
        self.gold = 0
        self.chat_ms = 0  # 0 until a Chat starts the ticker

    def on_message(self, msg: Message) -> None:
        kind = msg.kind
        if kind == Kind.NAME_DROP:
            self._meet(msg.payload)
        elif kind == Kind.GOLD_COIN:
            self._receive(msg.sender, msg.payload)
        elif kind == Kind.CHAT:
            self._chat(msg.payload)
        else:
            super().on_message(msg)

    def _meet(self, buddy: str) -> None:
        if buddy in self.buddies or buddy == self.ctx.spec.name or len(self.buddies) >= DUNBAR:
            return
        self.buddies[buddy] = 0
        self.ctx.connect(buddy)

    def _receive(self, sender: str, payload: str) -> None:
        coins = _int(payload)
        if coins <= 0:
            return
        self.gold += coins
        if sender in self.buddies:
            self.buddies[sender] += coins

    def _chat(self, payload: str) -> None:
        ms = _int(payload)
        # ctx.every cannot be cancelled, so only the first valid Chat sets the pace.
        if self.chat_ms or not MIN_CHAT_MS <= ms <= MAX_CHAT_MS:
            return
        self.chat_ms = ms
        self.ctx.every(ms / 1000, self.tick)

    def tick(self) -> None:
        ctx = self.ctx
        rng = ctx.rng
        if rng.randrange(2) == 0:
            if len(self.buddies) >= 2:
                first, *others = self.buddies
                for other in others:
                    ctx.send(other, Kind.NAME_DROP, first)
        elif self.gold > 0 and self.buddies:
            gift = rng.randrange(self.gold)
            if gift > 0:
                names = tuple(self.buddies)
                ctx.send(names[rng.randrange(len(names))], Kind.GOLD_COIN, str(gift))
                self.gold -= gift


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


_GOLD = tuple(str(coins) for coins in range(100))  # the payloads, made once rather than per pirate
_PACE = tuple(str(ms) for ms in range(100, 10_000))


def opening_moves(names: Sequence[str], rng: random.Random) -> list[tuple[str, Kind, str]]:
    """What the fsm controller sends each pirate to start: two introductions, some gold, a pace.

    Introductions are random pirates, possibly the pirate itself or the same one twice, as in
    spigo; gold is 0-99 coins and the chat interval 100-9999 ms. Drawn as int(random() * n), a
    third of randrange's cost: 400,000 draws for spigo's 100,000 pirates.
    """
    draw, population = rng.random, len(names)
    name_drop, gold_coin, chat = Kind.NAME_DROP, Kind.GOLD_COIN, Kind.CHAT
    moves: list[tuple[str, Kind, str]] = []
    add = moves.append
    for name in names:
        add((name, name_drop, names[int(draw() * population)]))
        add((name, name_drop, names[int(draw() * population)]))
        add((name, gold_coin, _GOLD[int(draw() * 100)]))
        add((name, chat, _PACE[int(draw() * 9_900)]))
    return moves
