"""Input problems, collected rather than raised one at a time, so a user fixes a file in one pass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located precisely enough to fix without a traceback."""

    source: str  # a file path, or the name of the flag or environment variable
    where: str  # a JSON path such as $.services[2].count, or "" when the whole input is meant
    message: str

    def __str__(self) -> str:
        location = f"{self.source}: {self.where}" if self.where else self.source
        return f"{location}: {self.message}"


class InputError(Exception):
    """Bad input from the user: the CLI prints each problem on one line and exits 2."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# Architecture, scenario and compose files larger than this are refused before parsing: the
# largest shipped file is a few KiB, and a 50 MB scenario took 25 s to load.
MAX_INPUT_BYTES = 10 * 1024 * 1024


def too_large(size: int) -> str:
    """The problem line for an input file over MAX_INPUT_BYTES."""
    return (
        f"{size:,} bytes is more than the {MAX_INPUT_BYTES >> 20} MiB an input file may have; "
        "trim the file or split it"
    )
