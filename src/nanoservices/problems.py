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
