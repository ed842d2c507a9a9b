"""Edda, the configuration history recorder: every host sends it node, edge, forget and done
records; at the end it writes the graph files and reports what the graph holds."""

from __future__ import annotations

from pathlib import Path

import ray

from nanoservices.naming import to_node_name
from nanoservices.outputs.records import DoneRecord, EdgeRecord, ForgetRecord, GraphRecord, NodeRecord


def graph_counts(records: list[GraphRecord]) -> dict[str, int]:
    """Distinct nodes, edges, forgets and done records, as the graph files will hold them."""
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    forgets = 0
    done: set[str] = set()
    for record in records:
        if isinstance(record, NodeRecord):
            nodes.add(to_node_name(record.name))
        elif isinstance(record, EdgeRecord):
            edges.add((to_node_name(record.source), to_node_name(record.target)))
        elif isinstance(record, ForgetRecord):
            forgets += 1
        elif isinstance(record, DoneRecord):
            done.add(to_node_name(record.name))
    return {"nodes": len(nodes), "edges": len(edges), "forgets": forgets, "done": len(done)}


@ray.remote(num_cpus=0)
class Edda:
    def __init__(self) -> None:
        self.records: list[GraphRecord] = []

    def record(self, records: list[GraphRecord]) -> None:
        self.records.extend(records)

    def counts(self) -> dict[str, int]:
        return graph_counts(self.records)

    def write(
        self, out_dir: str, arch: str, args: tuple[str, ...], graphml: bool, reduce: bool
    ) -> dict[str, object]:
        from nanoservices.outputs.graph_json import write_graph_json
        from nanoservices.outputs.graphml import write_graphml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.records.sort(key=lambda r: r.timestamp)
        files = [str(out / "graph.json")]
        write_graph_json(out / "graph.json", arch, args, self.records, reduce=reduce)
        if graphml:
            files.append(str(out / "graph.graphml"))
            write_graphml(out / "graph.graphml", self.records, reduce=reduce)
        return {"files": files, **graph_counts(self.records)}
