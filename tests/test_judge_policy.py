"""A canary judge's `inconclusive` policy in a scenario file: read into the typed judge, and a bad
value refused in one line naming the key (exit 2), as every scenario problem is."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nanoservices.catalog import resolve_plan
from nanoservices.cli import app
from nanoservices.scenario import Canary, Judge, parse_scenario

CANARY = (
    "timeline:\n  - {{at: 2s, deploy: {{service: homepage, version: v2, strategy: canary, "
    "judge: {judge}}}}}\n"
)


@pytest.mark.parametrize(
    ("judge", "policy"), [("{after: 5s}", "rollback"), ("{after: 5s, inconclusive: promote}", "promote")]
)
def test_the_policy_defaults_to_rollback(judge: str, policy: str) -> None:
    scenario = parse_scenario(CANARY.format(judge=judge), "s.yaml", resolve_plan("netflixoss"), 30.0)
    [deploy] = scenario.actions
    assert deploy.strategy == Canary(judge=Judge(after=5.0, inconclusive=policy))


@pytest.mark.parametrize(("value", "shown"), [("wait", "'wait'"), ("3", "3"), ("[rollback]", '["rollback"]')])
def test_an_unknown_policy_is_refused_in_one_line(tmp_path: Path, value: str, shown: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(CANARY.format(judge=f"{{after: 5s, inconclusive: {value}}}"))
    result = CliRunner().invoke(app, ["validate", "--arch", "netflixoss", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{path}: $.timeline[0].deploy.judge.inconclusive: unknown inconclusive policy {shown}; "
        "use rollback or promote"
    ]


def test_min_p99_increase_is_a_duration() -> None:
    text = CANARY.format(judge="{after: 5s, min_p99_increase: 50ms}")
    [deploy] = parse_scenario(text, "s.yaml", resolve_plan("netflixoss"), 30.0).actions
    assert deploy.strategy == Canary(judge=Judge(after=5.0, min_p99_increase=0.05))
