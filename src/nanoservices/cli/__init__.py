"""The `nanoservices` command: thin typer commands over library functions.

Each command module registers itself on `app` when imported below. Only this package prints or
picks exit codes; the library raises InputError and the commands turn it into exit status 2.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

# typer vendors its own click; its usage errors all derive from the ClickException of that copy.
ClickException = typer.BadParameter.__mro__[2]


class OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr (typer draws a multi-line box): `nanoservices run: ...`."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except ClickException as error:
            context = getattr(error, "ctx", None)
            where = context.command_path if context is not None else "nanoservices"
            typer.echo(f"{where}: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("nanoservices: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="nanoservices",
    help="Simulate microservice architectures (spigo's format) as Ray actors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Command modules: importing one registers its commands on `app`.
from nanoservices.cli import compose as _compose  # noqa: E402, F401
from nanoservices.cli import inspect as _inspect  # noqa: E402, F401
from nanoservices.cli import report as _report  # noqa: E402, F401
from nanoservices.cli import run as _run  # noqa: E402, F401
from nanoservices.cli import verify as _verify  # noqa: E402, F401


def main() -> None:
    """Console-script entry point (`nanoservices = "nanoservices.cli:main"`)."""
    app()
