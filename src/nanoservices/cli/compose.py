"""`nanoservices import-compose`: a docker-compose file as an architecture file (spigo's compose2arch)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nanoservices.cli import app
from nanoservices.cli._errors import input_errors_exit
from nanoservices.problems import InputError, Problem


@app.command("import-compose")
def import_compose(
    file: Annotated[Path, typer.Argument(help="A docker-compose file (v1, v2, v3 or the compose spec).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the architecture here (default: stdout).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The architecture's `arch` name (default: the file stem).")
    ] = None,
) -> None:
    """Convert a compose file to an architecture: images guess packages, a denominator sends traffic."""
    from nanoservices import compose  # here, so other commands do not import yaml at start-up

    notes: list[str] = []
    with input_errors_exit():
        if output is not None:
            _check_output_name(output)
        text = compose.to_json(compose.load_compose(file, name, notes))
        if output is None:
            sys.stdout.write(text)
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                problem = Problem(str(output), "", f"cannot write: {exc.strerror}; choose another -o")
                raise InputError([problem]) from None
    for note in notes:  # what was inferred from where, one line each
        typer.echo(note, err=True)
    if output is not None:
        typer.echo(f"{file}: wrote {output}", err=True)


def _check_output_name(output: Path) -> None:
    """The file name gives the architecture's name when the file is run or validated, and instance
    names are dot-separated: refuse before converting a name that `validate` would refuse."""
    from nanoservices.architecture import architecture_name
    from nanoservices.catalog import SUFFIX

    name = architecture_name(output)
    if "." in name or not name:
        fixed = (name.replace(".", "-") or "imported") + SUFFIX
        problem = Problem(
            str(output),
            "",
            f"the file name gives the architecture name {name!r}, which starts every instance name and "
            f"may not have a dot; use e.g. -o {output.with_name(fixed)}",
        )
        raise InputError([problem])
