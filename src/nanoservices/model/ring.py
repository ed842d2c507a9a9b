"""priamCassandra's token ring: the plan assigns it, the behaviour looks keys up in it. Here, below
both, so the behaviour does not import the plan."""

from __future__ import annotations

import zlib
from bisect import bisect_right
from dataclasses import dataclass

RING_SIZE = 0xFFFFFFFF  # priamCassandra token space (CRC-32)


@dataclass(frozen=True, slots=True)
class TokenRing:
    """A ring split into names and tokens once, so each lookup is one bisect, not a scan of the ring."""

    names: tuple[str, ...]
    tokens: tuple[int, ...]  # ascending, the first 0

    @classmethod
    def of(cls, ring: tuple[tuple[str, int], ...]) -> TokenRing:
        return cls(tuple(name for name, _ in ring), tuple(token for _, token in ring))

    def owner(self, key: str) -> str:
        """The last member whose token is at or below the key's CRC-32. Searching from index 1 makes
        the first member the owner of everything below the second token, with no bounds check."""
        return self.names[bisect_right(self.tokens, zlib.crc32(key.encode()), 1) - 1]


def ring_owner(ring: tuple[tuple[str, int], ...], key: str) -> str:
    """One lookup in a ring given as InstanceSpec.ring; code that looks up often keeps a TokenRing."""
    return TokenRing.of(ring).owner(key)
