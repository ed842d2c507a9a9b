"""Each example in architectures/scenarios/ is valid against the netflixoss plan it names in its comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanoservices.catalog import architectures_dir, resolve_plan
from nanoservices.problems import InputError
from nanoservices.scenario import Canary, Deploy, Kong, RedBlack, Rolling, load_scenario

EXAMPLES = architectures_dir() / "scenarios"
REGIONS = {"simian-army.yaml": 2}  # it takes down us-west-2; its comment says to run with -w 2
STRATEGY = {
    "canary-homepage.yaml": Canary,
    "redblack-homepage.yaml": RedBlack,
    "rolling-homepage.yaml": Rolling,
}


def test_the_examples_are_the_seven_documented() -> None:
    expected = [
        *STRATEGY,
        "simian-army.yaml",
        "capacity-ramp.yaml",
        "capacity-knee.yaml",
        "gorilla-recovery.yaml",
    ]
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(expected)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_is_valid_for_a_30s_run(path: Path) -> None:
    regions = REGIONS.get(path.name, 1)
    if regions > 1:
        assert f"-w {regions}" in path.read_text()
    scenario = load_scenario(path, resolve_plan("netflixoss", 100, regions), 30.0)
    assert scenario.actions
    deploys = [a for a in scenario.actions if isinstance(a, Deploy)]
    if path.name in STRATEGY:
        assert [type(d.strategy) for d in deploys] == [STRATEGY[path.name]]
        assert scenario.behaviour("homepage", "v2") is not None
    else:
        assert not deploys


def test_simian_army_needs_the_second_region() -> None:
    path = EXAMPLES / "simian-army.yaml"
    assert any(
        isinstance(a, Kong) for a in load_scenario(path, resolve_plan("netflixoss", 100, 2), 30.0).actions
    )
    with pytest.raises(InputError) as caught:
        load_scenario(path, resolve_plan("netflixoss", 100, 1), 30.0)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: $.timeline[5].kong: region 'us-west-2' is not in this plan, which has us-east-1; "
        "run with --regions 2 or more"
    ]


@pytest.mark.parametrize("name", sorted(STRATEGY))
def test_each_deploy_example_names_the_packing_it_finishes_at(name: str) -> None:
    """At the default -K 1 a new group is new Ray processes, whose start can outlast the run (the
    deploy is then reported unfinished): each example's command names the -K its comment holds for."""
    commands = [line for line in (EXAMPLES / name).read_text().splitlines() if "nanoservices run" in line]
    assert commands and all(" -K 100 " in line for line in commands), commands
