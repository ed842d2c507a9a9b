"""`nanoservices report RUN_DIR`: rebuild a run's report.html from the files the run left."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nanoservices.cli import app
from nanoservices.cli._errors import input_errors_exit


@app.command()
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="A run's output directory (holds summary.json, graph.json).")
    ],
) -> None:
    """Write RUN_DIR/report.html: graph, timeline, charts, histograms and traces, one file, no network."""
    from nanoservices.outputs.report import write_report  # here, so other commands start without it

    with input_errors_exit():
        path = write_report(run_dir)
    typer.echo(f"wrote {path}")
