"""The CLI's one error convention: every input problem on its own stderr line, then exit 2."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from nanoservices.problems import InputError, Problem

EXIT_INPUT = 2  # the same status typer gives a bad option, so scripts see one code for bad input


def report(problems: Iterable[Problem]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)


@contextmanager
def input_errors_exit() -> Iterator[None]:
    """Turn InputError into lines on stderr and exit 2, with no traceback."""
    try:
        yield
    except InputError as exc:
        report(exc.problems)
        raise typer.Exit(EXIT_INPUT) from None


def refuse(ctx: typer.Context, lines: Iterable[str]) -> NoReturn:
    """Bad flags: each line after the command's name, as typer's own usage errors print, then exit 2."""
    for line in lines:
        typer.echo(f"{ctx.command_path}: {line}", err=True)
    raise typer.Exit(EXIT_INPUT)
