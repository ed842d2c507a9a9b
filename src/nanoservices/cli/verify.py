"""`nanoservices verify RUN_DIR --backend KIND --url URL`: read a run's traces back from a backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nanoservices import defaults
from nanoservices.cli import app
from nanoservices.cli._errors import input_errors_exit
from nanoservices.durations import parse_duration

EXIT_NOT_INTACT = 1  # missing, altered, duplicate or unexpected spans, or the backend down


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A traced run's output directory (holds expected/).")],
    backend: Annotated[
        str, typer.Option("--backend", help="zipkin, jaeger (api_v3), jaeger-v2, tempo or phoenix.")
    ],
    url: Annotated[str, typer.Option("--url", help="The backend's query URL, e.g. http://127.0.0.1:9411.")],
    wait: Annotated[
        str, typer.Option("--wait", help="Keep asking for traces not yet whole for this long.")
    ] = defaults.seconds(defaults.VERIFY_WAIT),
    sample: Annotated[
        str, typer.Option("--sample", help="Verify a seeded share of the traces, e.g. 10%.")
    ] = defaults.VERIFY_SAMPLE,
    seed: Annotated[int, typer.Option("--seed", help="Picks the sample.")] = defaults.SEED,
    project: Annotated[str, typer.Option("--project", help="phoenix only: the project.")] = "default",
    workers: Annotated[
        int, typer.Option("--workers", help="Traces asked for at once.", min=1)
    ] = defaults.VERIFY_WORKERS,
) -> None:
    """Ask the backend for every trace the run sent (or a sample) and compare span by span: exit 0 only
    when every trace was found intact. Writes RUN_DIR/verify.json."""
    from nanoservices.verify import (
        VERIFY_JSON,
        BackendError,
        make_backend,
        parse_sample,
        table,
        write_json,
    )
    from nanoservices.verify import verify as verify_run

    try:
        wait_s = parse_duration(wait)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--wait'") from None
    try:
        adapter = make_backend(backend, url, project)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--backend'") from None
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http(s) URL", param_hint="'--url'")
    with input_errors_exit():
        fraction = parse_sample(sample)
        try:
            outcome = verify_run(run_dir, adapter, wait_s=wait_s, sample=fraction, seed=seed, workers=workers)
        except BackendError as exc:
            typer.echo(f"nanoservices verify: {exc}", err=True)
            raise typer.Exit(EXIT_NOT_INTACT) from None
    write_json(outcome, run_dir / VERIFY_JSON)
    for line in table(outcome):
        typer.echo(line)
    if not outcome.intact:
        raise typer.Exit(EXIT_NOT_INTACT)
