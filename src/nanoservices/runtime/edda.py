"""Edda, the configuration history recorder: every host sends it node, edge, forget and done
records; at the end it writes the graph files and reports what the graph holds. Records arrive
packed and are kept as rows (outputs/record_rows.py): a 100,000-pirate graph is half a million."""

from __future__ import annotations

from pathlib import Path

import ray

from nanoservices.outputs.graph_json import graph_counts
from nanoservices.outputs.record_rows import Row, record_row, row_record, unpack_rows
from nanoservices.outputs.records import GraphRecord
from nanoservices.runtime.bulk import paused_gc


@ray.remote(num_cpus=0, enable_task_events=False)
class Edda:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def record(self, records: bytes | list[GraphRecord]) -> None:
        """Packed rows from a host (pack_records), or records (the supervisor's few done records)."""
        with paused_gc():
            if isinstance(records, bytes):
                self.rows.extend(unpack_rows(records))
            else:
                self.rows.extend(record_row(r) for r in records)

    def counts(self, reduce: bool = False) -> dict[str, int]:
        return graph_counts([row_record(r) for r in self.rows], reduce)

    def write(
        self, out_dir: str, arch: str, args: tuple[str, ...], graphml: bool, reduce: bool
    ) -> dict[str, object]:
        from nanoservices.outputs.graph_json import write_rows

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with paused_gc():  # a graph of 100,000 pirates is half a million records
            self.rows.sort(key=_timestamp)
            files = [str(out / "graph.json")]
            # The writer counts what it admits: no second pass over the records to count them.
            with (out / "graph.json").open("w", encoding="utf-8") as text:
                counts = write_rows(text, arch, args, self.rows, reduce=reduce)
            if graphml:
                from nanoservices.outputs.graphml import write_graphml

                files.append(str(out / "graph.graphml"))
                write_graphml(out / "graph.graphml", [row_record(r) for r in self.rows], reduce=reduce)
        return {"files": files, **counts}


def _timestamp(row: Row) -> float:
    return row[0]
