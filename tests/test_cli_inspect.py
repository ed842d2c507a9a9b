"""The list, validate and plan commands, through typer's CliRunner (as a user types them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nanoservices import catalog
from nanoservices.architecture import load_architecture
from nanoservices.cli import app
from nanoservices.plan import expand

runner = CliRunner()
ARCH_FILES = sorted(str(p) for p in catalog.architectures_dir().glob("*_arch.json"))
INVALID = {
    "testBadPackage_arch.json": "'unknown'",
    "testDuplicate_arch.json": "'signup-node'",
    "testMissingDep_arch.json": "'missing'",
}


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_refused_in_one_line(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", [[], ["list"], ["validate"], ["plan"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_list_shows_services_and_instance_counts() -> None:
    result = invoke("list")
    assert result.exit_code == 0
    headings = {line.split(":")[0]: line.split() for line in result.stdout.splitlines() if line[:1] != " "}
    for listing in catalog.list_architectures():
        words = headings[listing.name]
        assert (words[1], words[3]) == (str(len(listing.services)), str(listing.instances))
    assert ["homepage", "karyon", "24"] in [line.split() for line in result.stdout.splitlines()]


def test_validate_accepts_every_shipped_architecture() -> None:
    result = invoke("validate", *ARCH_FILES)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(": ok,") == len(ARCH_FILES)
    assert result.stderr == ""


@pytest.mark.parametrize("name", sorted(INVALID))
def test_validate_refuses_spigos_invalid_files(spigo_data: Path, name: str) -> None:
    path = str(spigo_data / name)
    assert_refused_in_one_line(invoke("validate", path), path, INVALID[name])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["empty file"]),
        (b"[1, 2]", ["$:", "got an array"]),
        (bytes(range(256)) * 4, ["not UTF-8"]),
        (b"[" * 100_000, ["nested too deeply"]),
        (
            b'{"services": [{"name": "a", "package": "store", "count": "six"}]}',
            ["$.services[0].count", '"six"'],
        ),
        (b'{"arch": "x"}', ["$.services", "missing required key 'services'"]),
        (
            b'{"services": [{"name": "a", "package": "store", "count": 1,}]}',
            ["line 1 column", "malformed JSON"],
        ),
    ],
    ids=["empty", "array", "random-bytes", "nested", "count-six", "no-services", "trailing-comma"],
)
def test_validate_refuses_broken_input_in_one_line(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "broken_arch.json"
    path.write_bytes(content)
    assert_refused_in_one_line(invoke("validate", str(path)), str(path), *words)


def test_validate_reports_every_file_and_problem(spigo_data: Path) -> None:
    files = [str(spigo_data / name) for name in sorted(INVALID)]
    result = invoke("validate", ARCH_FILES[0], *files, "nosuch_arch.json")
    assert result.exit_code == 2
    assert result.stdout.count(": ok,") == 1
    assert len(result.stderr.splitlines()) == len(files) + 1


def test_validate_checks_the_flags_too() -> None:
    result = invoke("validate", "netflixoss", "-w", "17")
    assert result.exit_code == 2
    assert "--regions 17" in result.stderr


@pytest.mark.parametrize("arch", ["netflixoss", "lamp"])
def test_plan_json_nodes_equal_spigos_sample(spigo_data: Path, arch: str) -> None:
    result = invoke("plan", arch, "--json")
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    sample = json.loads((spigo_data / f"{arch}.json").read_text())
    assert sorted(r["node"] for r in records) == sorted(e["node"] for e in sample["graph"] if "node" in e)
    required = {"name", "node", "service", "package", "region", "zone", "ip", "dependencies"}
    assert all(required <= record.keys() for record in records)
    assert all(len(record["name"].split(".")) == 9 for record in records)


def test_plan_scale_and_regions_use_spigos_short_flags() -> None:
    records = json.loads(invoke("plan", "netflixoss", "-p", "1000", "-w", "3", "--json").stdout)
    assert len(records) == 1894
    assert {r["region"] for r in records} == {"us-east-1", "us-west-2", "eu-west-1", "*"}


def test_plan_table_has_a_row_per_service_region_and_totals() -> None:
    result = invoke("plan", "netflixoss", "--regions", "2")
    assert result.exit_code == 0
    plan = expand(load_architecture(catalog.architectures_dir() / "netflixoss_arch.json"), 100, 2)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"netflixoss: {len(plan.instances)} instances at 100% in 2 regions")
    homepage = [line.split() for line in lines if line.startswith("homepage ")]
    assert homepage == [
        ["homepage", "karyon", "us-east-1", "8", "8", "8", "-", "24"],
        ["homepage", "karyon", "us-west-2", "8", "8", "8", "-", "24"],
    ]
    assert lines[-3].split()[-1] == str(len(plan.instances))  # the grand total
    assert [line.split()[1] for line in lines if line.startswith("total ")][:-1] == [
        "us-east-1",
        "us-west-2",
        "*",
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nosuch"], ["unknown architecture", "netflixoss, "]),
        (["fsm", "-p", "1"], ["fsm: --scale", "at least 2"]),
        (["migration", "-s", "12"], ["--step", "0 to 9"]),
        (["lamp", "-p", "0"], ["lamp_arch.json: --scale"]),
    ],
)
def test_plan_refusals_are_one_line(args: list[str], words: list[str]) -> None:
    assert_refused_in_one_line(invoke("plan", *args), *words)


def test_plan_fsm_and_migration() -> None:
    pirates = json.loads(invoke("plan", "fsm", "-p", "5", "--json").stdout)
    assert [r["node"] for r in pirates] == [f"fsm.atlantic.bermuda.blackbeard0{i}" for i in range(1, 6)]
    assert invoke("plan", "migration", "--step", "3").exit_code == 0


def test_bad_options_exit_2_without_traceback() -> None:
    result = invoke("plan", "lamp", "-p", "lots")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_console_script_entry_point(spigo_data: Path) -> None:
    # The installed `nanoservices` runs cli.main; run it the same way in a fresh interpreter.
    code = "from nanoservices.cli import main; main()"
    path = str(spigo_data / "testDuplicate_arch.json")
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-c", code, "validate", path], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: $.services[3].name: duplicate service name 'signup-node' (first at $.services[2]); "
        "rename or remove one"
    ]
