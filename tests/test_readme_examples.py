"""Every `$ nanoservices list|validate|plan` example in README.md runs as written, from the repo
root, with the exit status it implies and every output line it shows (in order; `...` elides)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.cli import app

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NO_RAY = {"list", "validate", "plan"}  # `run` examples start Ray: test_cli_run and the e2e tests cover them
REFUSED = {"nanoservices validate tests/data/spigo/testDuplicate_arch.json"}  # the example of exit 2
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    command: str  # as typed after `$ `
    shown: tuple[str, ...]  # the output lines the README shows, `...` elisions dropped


def readme_examples() -> list[Example]:
    examples = []
    for block in FENCE.findall(README.read_text()):
        command, shown = None, []
        for line in [*block.splitlines(), "$ end"]:
            if line.startswith("$ "):
                if command is not None:
                    examples.append(Example(command, tuple(shown)))
                command, shown = line[2:], []
            elif command is not None and line.strip() != "...":
                shown.append(line.rstrip())
    return [e for e in examples if e.command.startswith("nanoservices ") and e.command.split()[1] in NO_RAY]


EXAMPLES = readme_examples()


def test_the_readme_has_an_example_of_each_command() -> None:
    assert {e.command.split()[1] for e in EXAMPLES} == NO_RAY
    assert {e.command for e in EXAMPLES} >= REFUSED


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.command for e in EXAMPLES])
def test_readme_example_runs_as_written(monkeypatch: pytest.MonkeyPatch, example: Example) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, shlex.split(example.command)[1:])
    assert result.exit_code == (2 if example.command in REFUSED else 0), result.output
    assert "Traceback" not in result.output
    output = iter(line.rstrip() for line in result.output.splitlines())
    missing = [line for line in example.shown if line not in output]  # `in` consumes: order is kept
    assert missing == [], result.output
