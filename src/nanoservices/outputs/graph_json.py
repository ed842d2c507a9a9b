"""spigo's graph JSON ("spigo-0.4"): written byte-for-byte in its layout, and read back.

spigo's viewers and tools parse this file line by line as well as as JSON, so the header lines,
the one-element-per-line body and the footer follow spigo's writer exactly. Unlike spigo, every
string is JSON-escaped, so the file is valid JSON whatever the names contain.

What is written follows spigo's edda, which logs history, not every record: a node while it is
not already live, an edge while the (source, target) pair is not already live, a forget only for
a live edge (it names that edge's id), a done only for a live node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from io import StringIO
from pathlib import Path
from typing import NamedTuple, TextIO

from nanoservices.outputs.names import short_name
from nanoservices.outputs.record_rows import EDGE, FORGET, NODE, Row, record_row
from nanoservices.outputs.records import DoneRecord, EdgeRecord, ForgetRecord, GraphRecord, NodeRecord
from nanoservices.problems import InputError, Problem

VERSION = "spigo-0.4"
READABLE_VERSIONS = ("spigo-0.3", "spigo-0.4")
INDENT = "    "
FOOTER = "\n  ]\n}\n"
_PLAIN = re.compile(r'[^\x00-\x1f"\\<>&\x7f-\U0010ffff]*')  # printable ASCII that JSON keeps as is
Edge = tuple[str, str]


class Entry(NamedTuple):
    """A record edda logs, with short names; edge_id is set for edges and forgets."""

    record: GraphRecord
    edge_id: str = ""


class EddaLog:
    """spigo edda's deduplication of graph history, shared by the JSON and GraphML writers."""

    def __init__(self, reduce: bool = False) -> None:
        self.reduce = reduce
        self._live_nodes: set[str] = set()
        self._live_edges: dict[Edge, str] = {}  # live (source, target) -> its edge id
        self._edges_written = 0
        self._short: dict[str, str] = {}  # full name -> short name: each name recurs in many records
        self.counts = {"nodes": 0, "edges": 0, "forgets": 0, "done": 0}  # what was admitted

    def _name(self, name: str) -> str:
        short = self._short.get(name)
        if short is None:
            short = self._short[name] = short_name(name, self.reduce)
        return short

    def admit(self, record: GraphRecord) -> Entry | None:
        """The record as it should be logged, or None when edda would not log it."""
        if isinstance(record, NodeRecord):
            name = self._name(record.name)
            if name in self._live_nodes:
                return None
            self._live_nodes.add(name)
            self.counts["nodes"] += 1
            return Entry(NodeRecord(name, record.package, record.ip, record.timestamp))
        if isinstance(record, DoneRecord):
            name = self._name(record.name)
            if name not in self._live_nodes:
                return None
            self._live_nodes.discard(name)
            self.counts["done"] += 1
            return Entry(DoneRecord(name, record.exit, record.timestamp))
        pair = (self._name(record.source), self._name(record.target))
        if isinstance(record, EdgeRecord):
            if pair in self._live_edges:
                return None
            self._edges_written += 1
            self.counts["edges"] += 1
            edge_id = f"e{self._edges_written}"
            self._live_edges[pair] = edge_id
            return Entry(EdgeRecord(*pair, record.timestamp), edge_id)
        edge_id = self._live_edges.pop(pair, "")
        if not edge_id:
            return None
        self.counts["forgets"] += 1
        return Entry(ForgetRecord(*pair, record.timestamp), edge_id)


def graph_counts(records: Iterable[GraphRecord], reduce: bool = False) -> dict[str, int]:
    """The elements the graph files hold, counted as the writers admit them (with -f too)."""
    log = EddaLog(reduce)
    for record in sorted(records, key=lambda r: r.timestamp):
        log.admit(record)
    return log.counts


def rfc3339nano(timestamp: float, tz: tzinfo | None = None) -> str:
    """Go's time.RFC3339Nano: trailing fractional zeros dropped, `Z` for UTC; local time by default.

    Float epoch seconds carry about a quarter of a microsecond, so microseconds are written.
    """
    seconds, micros = divmod(round(timestamp * 1_000_000), 1_000_000)
    whole, zone = _second(seconds, tz)
    fraction = f"{micros:06d}".rstrip("0")
    return whole + (f".{fraction}" if fraction else "") + zone


@lru_cache(maxsize=1024)
def _second(seconds: int, tz: tzinfo | None) -> tuple[str, str]:
    """One second's date-time text and zone: a run's records share few seconds, so each is
    formatted once, not once per record."""
    when = datetime.fromtimestamp(seconds, timezone.utc).astimezone(tz)
    offset = when.utcoffset()
    if not offset:
        zone = "Z"
    else:
        minutes = int(offset.total_seconds()) // 60
        zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return when.strftime("%Y-%m-%dT%H:%M:%S"), zone


def _go_json(value: str) -> str:
    """A JSON string escaped as Go's encoding/json does (HTML-safe), so output matches spigo's."""
    if _PLAIN.fullmatch(value):  # nothing to escape: names, packages, timestamps
        return f'"{value}"'
    text = json.dumps(value, ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _object(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{_go_json(k)}:{_go_json(v)}" for k, v in pairs) + "}"


def element_line(entry: Entry, tz: tzinfo | None = None) -> str:
    """One graph element as spigo's json.Marshal writes it: fixed key order, no spaces."""
    record = entry.record
    stamp = rfc3339nano(record.timestamp, tz)
    if isinstance(record, NodeRecord):
        pairs = [("node", record.name), ("package", record.package), ("timestamp", stamp)]
        return _object([*pairs, ("metadata", f"IP/{record.ip}")])
    if isinstance(record, DoneRecord):
        exit_reason = getattr(record.exit, "value", record.exit)
        return _object([("done", record.name), ("exit", str(exit_reason)), ("timestamp", stamp)])
    kind = "edge" if isinstance(record, EdgeRecord) else "forget"
    pairs = [(kind, entry.edge_id), ("source", record.source), ("target", record.target)]
    return _object([*pairs, ("timestamp", stamp)])


class GraphJsonWriter:
    """Streams records to an open text file as they happen; close() writes the footer."""

    def __init__(
        self,
        out: TextIO,
        arch: str,
        args: Sequence[str],
        date: float,
        reduce: bool = False,
        tz: tzinfo | None = None,
    ) -> None:
        self._out = out
        self._tz = tz
        self._log = EddaLog(reduce)
        self._separator = "\n"
        shown = args if isinstance(args, str) else " ".join(args)  # spigo prints os.Args as [a b c]
        fields = [("arch", arch), ("version", VERSION), ("args", f"[{shown}]")]
        header = "".join(f"  {_go_json(k)}:{_go_json(v)},\n" for k, v in fields)
        out.write(f'{{\n{header}  "date":{_go_json(rfc3339nano(date, tz))},\n  "graph":[')

    def write(self, record: GraphRecord) -> None:
        entry = self._log.admit(record)
        if entry is not None:
            self._out.write(f"{self._separator}{INDENT}{element_line(entry, self._tz)}")
            self._separator = ",\n"

    def close(self) -> None:
        self._out.write(FOOTER)

    @property
    def counts(self) -> dict[str, int]:
        return self._log.counts


def graph_json_text(
    arch: str,
    args: Sequence[str],
    records: Iterable[GraphRecord],
    reduce: bool = False,
    date: float | None = None,
    tz: tzinfo | None = None,
) -> str:
    """The whole file as a string; date defaults to the first record's time (spigo: its start)."""
    out = StringIO()
    _write_all(out, arch, args, records, reduce, date, tz)
    return out.getvalue()


def write_graph_json(
    path: Path | str,
    arch: str,
    args: Sequence[str],
    records: Iterable[GraphRecord],
    reduce: bool = False,
    date: float | None = None,
    tz: tzinfo | None = None,
) -> dict[str, int]:
    """Stream the records to a file, creating its directory (spigo writes json/<arch>.json).
    Returns what the file holds, as graph_counts() would count it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        return _write_all(out, arch, args, records, reduce, date, tz)


def _write_all(
    out: TextIO,
    arch: str,
    args: Sequence[str],
    records: Iterable[GraphRecord],
    reduce: bool,
    date: float | None,
    tz: tzinfo | None,
) -> dict[str, int]:
    return write_rows(out, arch, args, [record_row(r) for r in records], reduce, date, tz)


def write_rows(
    out: TextIO,
    arch: str,
    args: Sequence[str],
    rows: Sequence[Row],
    reduce: bool = False,
    date: float | None = None,
    tz: tzinfo | None = None,
) -> dict[str, int]:
    """The file from rows in the order given, as EddaLog admits them (the same bytes as
    GraphJsonWriter, element_line by element_line); returns what it holds."""
    start = date if date is not None else (rows[0][0] if rows else 0.0)
    header = GraphJsonWriter(out, arch, args, start, reduce, tz)  # writes the header
    quoted: dict[str, str] = {}  # full name -> its short name as a JSON string (also the live key)

    def name_of(full: str) -> str:
        text = quoted.get(full)
        if text is None:
            text = quoted[full] = _go_json(short_name(full, reduce))
        return text

    stamp = rfc3339nano
    live_nodes: set[str] = set()
    live_edges: dict[tuple[str, str], str] = {}
    counts = {"nodes": 0, "edges": 0, "forgets": 0, "done": 0}
    nodes = edges = forgets = done = 0
    lines: list[str] = []
    add = lines.append
    for timestamp, kind, a, b, c in rows:
        if kind in (EDGE, FORGET):
            pair = (name_of(a), name_of(b))
            if kind == EDGE:
                if pair in live_edges:
                    continue
                edges += 1
                word, edge_id = "edge", f"e{edges}"
                live_edges[pair] = edge_id
            else:
                edge_id = live_edges.pop(pair, "")
                if not edge_id:
                    continue
                forgets += 1
                word = "forget"
            when = stamp(timestamp, tz)
            add(f'{{"{word}":"{edge_id}","source":{pair[0]},"target":{pair[1]},"timestamp":"{when}"}}')
        elif kind == NODE:
            name = name_of(a)
            if name in live_nodes:
                continue
            live_nodes.add(name)
            nodes += 1
            add(
                f'{{"node":{name},"package":{_go_json(b)},"timestamp":"{stamp(timestamp, tz)}",'
                f'"metadata":{_go_json("IP/" + c)}}}'
            )
        else:
            name = name_of(a)
            if name not in live_nodes:
                continue
            live_nodes.discard(name)
            done += 1
            add(f'{{"done":{name},"exit":{_go_json(b)},"timestamp":"{stamp(timestamp, tz)}"}}')
    if lines:
        out.write(f"\n{INDENT}")
        out.write(f",\n{INDENT}".join(lines))
    header.close()
    counts.update(nodes=nodes, edges=edges, forgets=forgets, done=done)
    return counts


@dataclass
class GraphSummary:
    """What a graph file says, without timestamps: enough to compare runs with each other."""

    arch: str
    version: str
    args: str
    date: str
    nodes: list[str] = field(default_factory=list)  # in order of first appearance, once each
    packages: dict[str, str] = field(default_factory=dict)
    edges: set[Edge] = field(default_factory=set)  # every pair ever connected
    edge_ids: dict[str, Edge] = field(default_factory=dict)
    forgets: dict[str, Edge] = field(default_factory=dict)  # forgotten edge id -> its pair
    done: dict[str, str] = field(default_factory=dict)  # node -> exit of its last done

    @property
    def live_edges(self) -> set[Edge]:
        """Pairs connected at the end: edges whose id was never forgotten."""
        return {pair for edge_id, pair in self.edge_ids.items() if edge_id not in self.forgets}


def read_graph_json(path: Path | str) -> GraphSummary:
    """Read a graph file of ours or spigo's (spigo-0.3 used `service` where 0.4 has `package`)."""
    source = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(source, "", f"cannot read: {exc.strerror}")]) from None
    except ValueError as exc:
        raise InputError([Problem(source, "", f"not JSON: {exc}")]) from None
    if not isinstance(document, dict) or document.get("version") not in READABLE_VERSIONS:
        found = document.get("version") if isinstance(document, dict) else None
        expected = " or ".join(READABLE_VERSIONS)
        raise InputError([Problem(source, "$.version", f"expected {expected}, got {found!r}")])
    header = {key: str(document.get(key, "")) for key in ("arch", "version", "args", "date")}
    summary = GraphSummary(**header)
    for element in document.get("graph") or []:
        if isinstance(element, dict):
            _add(summary, element)
    return summary


def _add(summary: GraphSummary, element: dict[str, str]) -> None:
    if "node" in element:
        name = element["node"]
        if name not in summary.packages:
            summary.nodes.append(name)
        summary.packages[name] = element.get("package", element.get("service", ""))
    elif "edge" in element:
        pair = (element["source"], element["target"])
        summary.edges.add(pair)
        summary.edge_ids[element["edge"]] = pair
    elif "forget" in element:
        summary.forgets[element["forget"]] = (element["source"], element["target"])
    elif "done" in element:
        summary.done[element["done"]] = element.get("exit", "")
