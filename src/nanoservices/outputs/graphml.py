"""GraphML for yEd and graph tools, laid out as spigo writes it but always well-formed XML.

spigo's header, its directed graph `spigo`, one `<node>` line per node with its package under
the data key `service`, and one `<edge id="eN">` line per edge. Differences, each for validity:
names are XML-escaped; the `service` key spigo's nodes use is declared beside its d0-d2 keys;
a node or (source, target) pair appears once even when edda logs it again after a done or a
forget (ids must be unique), and done and forget records are not written, as in spigo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from nanoservices.outputs.graph_json import EddaLog
from nanoservices.outputs.records import EdgeRecord, GraphRecord, NodeRecord

GRAPH_ID = "spigo"
HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '  <graphml xmlns="http://graphml.graphdrawing.org/xmlns/graphml"\n'
    '   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
    '   xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns/graphml'
    ' http://www.yworks.com/xml/schema/graphml/1.0/ygraphml.xsd"\n'
    '    xmlns:y="http://www.yworks.com/xml/graphml">\n'
    '    <key id="d0" for="node" yfiles.type="nodegraphics"/>\n'
    '    <key id="d1" for="edge" yfiles.type="edgegraphics"/>\n'
    '    <key id="d2" for="node" attr.name="Text" attr.type="string"/>\n'
    '    <key id="service" for="node" attr.name="service" attr.type="string"/>\n'
    f'    <graph id="{GRAPH_ID}" edgedefault="directed">\n'
)
FOOTER = "    </graph>\n  </graphml>\n"
# Characters XML 1.0 cannot carry even as references; replaced so the file still parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("\ufffd", value))


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


def graphml_lines(records: Iterable[GraphRecord], reduce: bool = False) -> Iterable[str]:
    """The file line by line; names are shortened and deduplicated as in the graph JSON."""
    log = EddaLog(reduce)
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    yield HEADER
    for record in records:
        entry = log.admit(record)
        if entry is None:
            continue
        logged = entry.record
        if isinstance(logged, NodeRecord) and logged.name not in nodes:
            nodes.add(logged.name)
            yield (
                f"      <node id={_attr(logged.name)}>"
                f'<data key="service">{_text(logged.package)}</data></node>\n'
            )
        elif isinstance(logged, EdgeRecord) and (logged.source, logged.target) not in edges:
            edges.add((logged.source, logged.target))
            yield (
                f'      <edge id="{entry.edge_id}" source={_attr(logged.source)}'
                f" target={_attr(logged.target)}/>\n"
            )
    yield FOOTER


def graphml_text(records: Iterable[GraphRecord], reduce: bool = False) -> str:
    return "".join(graphml_lines(records, reduce))


def write_graphml(path: Path | str, records: Iterable[GraphRecord], reduce: bool = False) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(graphml_lines(records, reduce))
