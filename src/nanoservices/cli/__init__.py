"""The `nanoservices` command: thin typer commands over library functions.

Each command module registers itself on `app` when imported below. Only this package prints or
picks exit codes; the library raises InputError and the commands turn it into exit status 2.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="nanoservices",
    help="Simulate microservice architectures (spigo's format) as Ray actors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Command modules: importing one registers its commands on `app`.
from nanoservices.cli import inspect as _inspect  # noqa: E402, F401
from nanoservices.cli import run as _run  # noqa: E402, F401


def main() -> None:
    """Console-script entry point (`nanoservices = "nanoservices.cli:main"`)."""
    app()
