"""Span and trace ids for the fast span path, drawn cheaply and reproducibly.

Ids are lower-case hex strings, the form the W3C `traceparent` carries, so a hop formats its header by
joining strings and the encoder turns a whole span's ids into bytes with one `bytes.fromhex`.

- Span ids: slices of a pool of random bytes drawn in bulk (4,096 ids at a time) from a generator seeded
  with the run seed, the run id and the host's label.
- Trace ids: derived from the run seed, the run id, the root instance's name and that instance's count of
  root spans: `blake2b(f"{seed}:{run_id}:{instance}", digest 16)` keys a second `blake2b` over the 8-byte
  big-endian sequence number (1 for an instance's first root span), digest 16 bytes, as 32 hex characters.
  So anyone who knows the seed and the run id can recompute the trace id of instance X's n-th trace (see
  `trace_id`), whatever the packing of instances into hosts; the cost (~0.5 µs) is paid once per trace.

The run id (`TracingSettings.run_id`, random per run unless given) keeps two runs of the same seed from
sending the same ids: a backend that keeps both would otherwise merge or drop the second run's spans.

An all-zero id is invalid in W3C trace context; with 64 and 128 random bits it is never drawn in practice.
"""

from __future__ import annotations

import hashlib
import random

POOL_IDS = 4_096  # span ids drawn per refill
_SPAN_HEX = 16


class IdSource:
    """One host's span ids (a pool of random hex) and the key maker for its instances' trace ids."""

    __slots__ = ("_at", "_pool", "_rng", "run_id", "seed")

    def __init__(self, seed: int, host_label: str, run_id: str = "") -> None:
        self.seed = seed
        self.run_id = run_id
        self._rng = random.Random(f"{seed}:{run_id}:{host_label}:span-ids")
        self._pool = ""
        self._at = 0

    def span_id(self) -> str:
        at = self._at
        if at >= len(self._pool):
            self._pool = self._rng.randbytes(8 * POOL_IDS).hex()
            at = 0
        self._at = at + _SPAN_HEX
        return self._pool[at : at + _SPAN_HEX]

    def traces_of(self, instance: str) -> TraceIds:
        return TraceIds(self.seed, instance, self.run_id)


class TraceIds:
    """An instance's trace ids, in the order it starts traces."""

    __slots__ = ("_keyed", "sequence")

    def __init__(self, seed: int, instance: str, run_id: str = "") -> None:
        key = hashlib.blake2b(f"{seed}:{run_id}:{instance}".encode(), digest_size=16).digest()
        self._keyed = hashlib.blake2b(digest_size=16, key=key)  # copied per id: the key set up once
        self.sequence = 0

    def next(self) -> str:
        self.sequence += 1
        keyed = self._keyed.copy()
        keyed.update(self.sequence.to_bytes(8, "big"))
        return keyed.hexdigest()


def trace_id(seed: int, instance: str, sequence: int, run_id: str = "") -> str:
    """The trace id of `instance`'s `sequence`-th root span (1-based) in the run with `seed` and `run_id`."""
    key = hashlib.blake2b(f"{seed}:{run_id}:{instance}".encode(), digest_size=16).digest()
    return hashlib.blake2b(sequence.to_bytes(8, "big"), digest_size=16, key=key).hexdigest()
