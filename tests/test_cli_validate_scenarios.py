"""`validate` checks scenario files against an architecture (`--arch`), says which reader read a
file (`--verbose`), and refuses input files over the size limit before parsing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nanoservices.catalog import resolve_plan
from nanoservices.cli import app
from nanoservices.problems import MAX_INPUT_BYTES, InputError
from nanoservices.scenario.validate import load_scenario

REPO = Path(__file__).resolve().parents[1]
CANARY = REPO / "architectures" / "scenarios" / "canary-homepage.yaml"
BAD = REPO / "tests" / "data" / "scenario" / "bad.yaml"
TOO_LARGE = (
    f"{MAX_INPUT_BYTES + 1:,} bytes is more than the 10 MiB an input file may have; trim the file or split it"
)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_a_scenario_is_checked_against_the_architecture() -> None:
    result = invoke("validate", str(CANARY), "--arch", "netflixoss", "-d", "30")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"{CANARY}: ok, 2 actions and 1 version profile, against netflixoss at 100% in 1 region "
        "for a 30 s run\n"
    )


def test_a_bad_scenario_gets_every_problem_run_would_give() -> None:
    with pytest.raises(InputError) as expected:
        load_scenario(BAD, resolve_plan("netflixoss"), 30.0)
    result = invoke("validate", str(BAD), "--arch", "netflixoss", "-d", "30")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [str(p) for p in expected.value.problems]


def test_the_plan_flags_apply_to_the_scenario_check() -> None:
    simian = REPO / "architectures" / "scenarios" / "simian-army.yaml"
    refused = invoke("validate", str(simian), "--arch", "netflixoss", "-d", "30")
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        f"{simian}: $.timeline[5].kong: region 'us-west-2' is not in this plan, which has us-east-1; "
        "run with --regions 2 or more"
    ]
    assert invoke("validate", str(simian), "--arch", "netflixoss", "-w", "2", "-d", "30").exit_code == 0


def test_a_scenario_without_arch_says_how_to_check_it() -> None:
    result = invoke("validate", str(CANARY))
    assert result.exit_code == 2
    assert result.stderr == (
        f"{CANARY}: a scenario file, not an architecture; check it against an architecture: "
        f"nanoservices validate {CANARY} --arch ARCH -d SECONDS\n"
    )


def test_an_unknown_arch_or_duration_is_one_line() -> None:
    result = invoke("validate", str(CANARY), "--arch", "nosuch")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("nosuch: unknown architecture; use one of: ")
    result = invoke("validate", str(CANARY), "--arch", "netflixoss", "-d", "soon")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1


def test_verbose_says_which_reader_read_json_text_in_a_yaml_file(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps({"timeline": [{"at": "5s", "monkey": {"service": "homepage"}}]}))
    result = invoke("validate", str(scenario), "--arch", "netflixoss", "--verbose")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"{scenario}: read by the YAML reader; the text is JSON, which YAML reads the same"
    )
    architecture = tmp_path / "tiny.yaml"
    architecture.write_text((REPO / "tests" / "data" / "arch" / "tiny_arch.json").read_text())
    result = invoke("validate", str(architecture), "--verbose")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout.splitlines()[0]
        == f"{architecture}: read by the JSON reader (architecture files are JSON)"
    )
    assert (
        invoke("validate", str(architecture)).stdout.count("\n") == 1
    )  # without --verbose: the ok line only


def oversized(path: Path) -> Path:
    with path.open("wb") as out:
        out.truncate(MAX_INPUT_BYTES + 1)  # sparse: no 10 MiB written to disk
    return path


def test_architecture_and_scenario_files_over_the_limit_are_refused_in_one_line(tmp_path: Path) -> None:
    architecture = oversized(tmp_path / "big_arch.json")
    result = invoke("validate", str(architecture))
    assert (result.exit_code, result.stderr) == (2, f"{architecture}: {TOO_LARGE}\n")
    scenario = oversized(tmp_path / "big.yaml")
    result = invoke("validate", str(scenario), "--arch", "netflixoss")
    assert (result.exit_code, result.stderr) == (2, f"{scenario}: {TOO_LARGE}\n")
    result = invoke("run", "netflixoss", "--scenario", str(scenario))
    assert (result.exit_code, result.stderr) == (2, f"{scenario}: {TOO_LARGE}\n")
