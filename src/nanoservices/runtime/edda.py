"""Edda, the configuration history recorder: every host sends it node, edge, forget and done
records; at the end it writes the graph files and reports what the graph holds."""

from __future__ import annotations

from pathlib import Path

import ray

from nanoservices.outputs.graph_json import graph_counts
from nanoservices.outputs.records import GraphRecord
from nanoservices.runtime.bulk import paused_gc


@ray.remote(num_cpus=0, enable_task_events=False)
class Edda:
    def __init__(self) -> None:
        self.records: list[GraphRecord] = []

    def record(self, records: list[GraphRecord]) -> None:
        self.records.extend(records)

    def counts(self, reduce: bool = False) -> dict[str, int]:
        return graph_counts(self.records, reduce)

    def write(
        self, out_dir: str, arch: str, args: tuple[str, ...], graphml: bool, reduce: bool
    ) -> dict[str, object]:
        from nanoservices.outputs.graph_json import write_graph_json
        from nanoservices.outputs.graphml import write_graphml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with paused_gc():  # a graph of 100,000 pirates is half a million records
            self.records.sort(key=lambda r: r.timestamp)
            files = [str(out / "graph.json")]
            # The writer counts what it admits: no second pass over the records to count them.
            counts = write_graph_json(out / "graph.json", arch, args, self.records, reduce=reduce)
            if graphml:
                files.append(str(out / "graph.graphml"))
                write_graphml(out / "graph.graphml", self.records, reduce=reduce)
        return {"files": files, **counts}
