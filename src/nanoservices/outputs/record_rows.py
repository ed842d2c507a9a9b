"""Edda's records as plain rows, and packed for the trip from a host to Edda.

A row is (timestamp, kind, a, b, c): a node is (name, package, ip), an edge or a forget
(source, target, ""), a done (name, exit, ""). A graph of 100,000 pirates is half a million
records: as pickled objects half of them took 17.6 MB and 1.8 s of CPU to unpickle here, as one
msgpack array of rows a tenth of that, and the graph.json writer reads rows directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgpack

from nanoservices.outputs.records import (
    DoneRecord,
    EdgeRecord,
    ExitReason,
    ForgetRecord,
    GraphRecord,
    NodeRecord,
)

Row = tuple[float, int, str, str, str]
NODE, EDGE, FORGET, DONE = 0, 1, 2, 3


def record_row(record: GraphRecord) -> Row:
    if isinstance(record, NodeRecord):
        return (record.timestamp, NODE, record.name, record.package, record.ip)
    if isinstance(record, EdgeRecord):
        return (record.timestamp, EDGE, record.source, record.target, "")
    if isinstance(record, ForgetRecord):
        return (record.timestamp, FORGET, record.source, record.target, "")
    return (record.timestamp, DONE, record.name, str(getattr(record.exit, "value", record.exit)), "")


def row_record(row: Sequence[object]) -> GraphRecord:
    timestamp, kind, a, b, c = row
    when, first, second = float(timestamp), str(a), str(b)  # type: ignore[arg-type]
    if kind == NODE:
        return NodeRecord(first, second, str(c), when)
    if kind == EDGE:
        return EdgeRecord(first, second, when)
    if kind == FORGET:
        return ForgetRecord(first, second, when)
    return DoneRecord(first, ExitReason(second), when)


def pack_records(records: Sequence[GraphRecord]) -> bytes:
    """Records as the bytes Edda.record takes: one msgpack array of rows."""
    return msgpack.packb([record_row(r) for r in records], use_bin_type=True)


def unpack_rows(data: bytes) -> list[Row]:
    return msgpack.unpackb(data, raw=False, use_list=False)  # type: ignore[no-any-return]
