"""`nanoservices run` flags that used to be accepted and then misbehaved (inf, absurd rates, a step
outside migration, --rate with --kv) are refused with exit 2 and one line naming the flag and the
range; RunConfig refuses the same for library callers. Also: a YAML file given as an architecture.
No Ray: accepted flags reach a stand-in for the simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from nanoservices import simulation
from nanoservices.cli import app
from nanoservices.config import MAX_RATE, MAX_SECONDS, RunConfig

runner = CliRunner()
RATE_RANGE = "must be finite, above 0 and at most 100,000 requests/s per denominator"
WEEK = "604,800 seconds (a week)"


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--rate", "inf"], f"--rate {RATE_RANGE}, got inf"),
        (["--rate", "nan"], f"--rate {RATE_RANGE}, got nan"),
        (["--rate", "1e9"], f"--rate {RATE_RANGE}, got 1e+09"),
        (["--rate", "100001"], f"--rate {RATE_RANGE}, got 100001"),
        (["--rate", "0"], f"--rate {RATE_RANGE}, got 0"),
        (["-d", "inf"], f"-d/--duration must be finite, from 0 to {WEEK}, got inf"),
        (["-d", "604801"], f"-d/--duration must be finite, from 0 to {WEEK}, got 604801"),
        (["-u", "inf"], f"-u/--poll-interval must be finite, above 0 and at most {WEEK}, got inf"),
        (
            ["--request-timeout", "inf"],
            f"--request-timeout must be finite, above 0 and at most {WEEK}, got inf",
        ),
        (["--request-timeout", "0s"], f"--request-timeout must be finite, above 0 and at most {WEEK}, got 0"),
        (["-s", "5"], "-s/--step applies only to the migration architecture, not 'lamp'; drop it"),
        (["--rate", "5", "--kv", "chat:10ms"], "--rate and --kv both set the request rate; give one of them"),
        (
            ["--kv", "chat:0.5ms"],
            "Invalid value for --kv: 'chat:0.5ms': the chat interval must be between 1ms and 1h",
        ),
        (["-p", "0"], "-p/--scale should be greater than or equal to 1"),
        (["--lease-renewal", "0s"], f"--lease-renewal must be finite, above 0 and at most {WEEK}, got 0"),
        (["--retries", "-1"], "--retries should be greater than or equal to 0"),
        (["--sources", "0"], "--sources should be greater than or equal to 1"),
        (
            ["--timeout", "www"],
            "Invalid value for '--timeout': 'www' is not SERVICE=DURATION (e.g. staash=500ms)",
        ),
        (["--timeout", "www=inf"], f"--timeout www: must be finite, above 0 and at most {WEEK}, got inf"),
        (["--timeout", "www=0s"], f"--timeout www: must be finite, above 0 and at most {WEEK}, got 0"),
    ],
)
def test_run_refuses_the_flag_in_one_line(flags: list[str], line: str) -> None:
    result = runner.invoke(app, ["run", "lamp", *flags])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"nanoservices run: {line}"]
    assert result.stdout == ""


def test_plan_refuses_a_step_outside_migration_too() -> None:
    result = runner.invoke(app, ["plan", "lamp", "-s", "5"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "nanoservices plan: -s/--step applies only to the migration architecture, not 'lamp'; drop it"
    ]
    assert runner.invoke(app, ["plan", "migration", "-s", "5"]).exit_code == 0


@dataclass
class FakeSummary:
    hosts_died: list[str] = field(default_factory=list)
    interrupted: bool = False
    timeline_error: str = ""

    def lines(self) -> list[str]:
        return ["ran"]


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """The RunConfigs the CLI hands the simulation, which is not run."""
    seen: list[RunConfig] = []

    def fake_run(config: RunConfig, on_progress: object = None, on_live: object = None) -> FakeSummary:
        seen.append(config)
        return FakeSummary()

    monkeypatch.setattr(simulation, "run", fake_run)
    return seen


@pytest.mark.parametrize(
    ("flags", "field_name", "value"),
    [
        (["--rate", "100000"], "rate", MAX_RATE),
        (["--kv", "chat:1ms"], "rate", 1000.0),
        (["--kv", "chat:1h"], "rate", 1 / 3600),
        (["-d", "604800"], "duration", MAX_SECONDS),
        (["-d", "0"], "duration", 0.0),
        (["-u", "250ms"], "poll_interval", 0.25),
        (["--lease-renewal", "30s"], "lease_renewal", 30.0),
        (["--retries", "0"], "retries", 0),
        ([], "lease_renewal", 5.0),
        ([], "retries", 1),
        (["--timeout", "www=500ms", "--timeout", "memcache=1s"], "timeouts", {"www": 0.5, "memcache": 1.0}),
        ([], "timeouts", {}),
        (["--sources", "3"], "sources", 3),
        ([], "sources", None),
    ],
)
def test_run_accepts_the_edges_of_each_range(
    configs: list[RunConfig], flags: list[str], field_name: str, value: float
) -> None:
    result = runner.invoke(app, ["run", "lamp", *flags])
    assert result.exit_code == 0, result.output
    assert [getattr(c, field_name) for c in configs] == [value]


def test_step_still_reaches_migration(configs: list[RunConfig]) -> None:
    result = runner.invoke(app, ["run", "migration", "-s", "5"])
    assert result.exit_code == 0, result.output
    assert [(c.arch, c.step) for c in configs] == [("migration", 5)]


@pytest.mark.parametrize(
    ("settings", "field_name"),
    [
        ({"rate": float("inf")}, "rate"),
        ({"rate": 1e9}, "rate"),
        ({"duration": float("inf")}, "duration"),
        ({"duration": -1.0}, "duration"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"request_timeout": float("inf")}, "request_timeout"),
        ({"step": 3}, "step"),
    ],
)
def test_run_config_refuses_the_same_for_library_callers(settings: dict[str, float], field_name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunConfig(arch="lamp", **settings)  # type: ignore[arg-type]
    assert [error["loc"] for error in caught.value.errors()] == [(field_name,)]


def test_run_config_keeps_a_migration_step() -> None:
    assert RunConfig(arch="migration", step=9).step == 9


# A YAML file given as an architecture.

YAML = "arch: arch-0.0\nservices:\n  - name: www\n    package: denominator\n    count: 1\n"
NOT_JSON = "architecture files are JSON (spigo's format); this looks like YAML: convert it to JSON"


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("lamp.yaml", YAML, "line 1 column 1"),
        ("lamp.yml", "{services: [www]}\n", "line 1 column 2"),  # flow-style YAML: only the name says so
        ("lamp_arch.json", YAML, "line 1 column 1"),
        ("lamp_arch.json", "# converted from lamp.yaml\n---\n" + YAML, "line 1 column 1"),
        ("lamp_arch.json", "\n- name: www\n", "line 2 column 1"),
    ],
    ids=["yaml", "yml-flow", "json-name-mapping", "comment-document-start", "list"],
)
def test_validate_says_a_yaml_file_is_not_json(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"{path}: {where}: {NOT_JSON}"]


def test_malformed_json_is_still_called_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "broken_arch.json"
    path.write_text('{"services": [,]}')
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"{path}: line 1 column 15: malformed JSON: Expecting value"]


def test_a_bad_scenario_is_refused_before_ray_starts_with_every_problem_at_once() -> None:
    """Every problem of tests/data/scenario/bad.yaml, one line each, exit 2; nothing ran."""
    from nanoservices.catalog import resolve_plan
    from nanoservices.problems import InputError
    from nanoservices.scenario.validate import load_scenario

    bad = Path(__file__).parent / "data" / "scenario" / "bad.yaml"
    with pytest.raises(InputError) as expected:
        load_scenario(bad, resolve_plan("netflixoss"), 30.0)
    result = runner.invoke(app, ["run", "netflixoss", "-d", "30", "--scenario", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [str(p) for p in expected.value.problems]
    assert len(result.stderr.splitlines()) > 5 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("deploy", "line"),
    [
        ("www@v2", "--deploy: www is a denominator: deploys are of stateless services"),
        ("homepage", "'homepage' should be service@version[:strategy], e.g. homepage@v2:canary"),
        (
            "homepage@v2:bluegreen",
            "unknown strategy 'bluegreen'; use redblack, rolling, canary or highlander",
        ),
    ],
)
def test_a_bad_deploy_shortcut_is_one_line_and_exit_2(deploy: str, line: str) -> None:
    result = runner.invoke(app, ["run", "netflixoss", "-d", "30", "--deploy", deploy])
    assert result.exit_code == 2, result.output
    [only] = result.stderr.splitlines()
    assert line in only, only


def test_per_dependency_timeouts_reach_every_host() -> None:
    from nanoservices.catalog import resolve_plan
    from nanoservices.runtime.placement import host_setups

    plan = resolve_plan("lamp", 100, 1, 0)
    config = RunConfig(arch="lamp", timeouts={"www": 0.5, "memcache": 1.0})
    assert {setup.timeouts for setup in host_setups(plan, config)} == {(("memcache", 1.0), ("www", 0.5))}


def test_a_timeout_for_a_service_the_architecture_lacks_is_refused_before_ray_starts() -> None:
    result = runner.invoke(app, ["run", "lamp", "--timeout", "nosuch=1s"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "--timeout: nosuch: lamp has no service 'nosuch'; it has "
        "memcache, rds-mysql, webserver, webserver-elb, www"
    ]
