"""The built-in architectures (fsm, migration) and how ARCH values resolve."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from nanoservices import builtin, catalog
from nanoservices.builtin import PIRATE_BLOCKS
from nanoservices.catalog import list_architectures, resolve_plan
from nanoservices.geography import HOSTS_PER_PREFIX, prefix_for
from nanoservices.problems import InputError


def migration_reference(spigo_data: Path) -> dict[str, object]:
    return json.loads((spigo_data / "migration_nodes.json").read_text())


def flag(args: str, name: str, default: int) -> int:
    """A flag's value in spigo's recorded command line, e.g. `[./spigo -a migration -s 7 -w 2]`."""
    words = args.strip("[]").split()
    return int(words[words.index(name) + 1]) if name in words else default


@pytest.mark.parametrize("step", builtin.MIGRATION_STEPS)
def test_migration_steps_equal_spigos_committed_graphs(spigo_data: Path, step: int) -> None:
    reference = migration_reference(spigo_data)
    args = reference["args"][str(step)]  # type: ignore[index]
    nodes = reference["nodes"][str(step)]  # type: ignore[index]
    plan = resolve_plan("migration", flag(args, "-p", 100), flag(args, "-w", 1), step)
    assert sorted(s.node for s in plan.instances) == sorted(nodes)


def test_migration_scales_only_the_scaled_tiers() -> None:
    counts = Counter(s.service for s in resolve_plan("migration", 200, 1, 6).instances)
    # BEHAVIOUR.md 16: cassTurtle 12P, turtle 6P, php/node/wwwproxy 9P; evcache fixed at 3.
    assert counts == {
        "cassTurtle": 24,
        "evcache": 3,
        "turtle": 12,
        "php": 18,
        "node": 18,
        "wwwproxy": 18,
        "www-elb": 1,
        "www": 1,
    }


def test_migration_forces_regions_in_late_steps() -> None:
    assert resolve_plan("migration", 100, 1, 7).regions == 2
    assert resolve_plan("migration", 100, 5, 9).regions == 3
    assert resolve_plan("migration", 100, 2, 6).regions == 2


def test_migration_keeps_a_dependency_on_a_service_not_yet_created() -> None:
    # Step 4: turtle already depends on cassTurtle, which arrives in step 5 (as in spigo).
    plan = resolve_plan("migration", 100, 1, 4)
    turtle = next(s for s in plan.instances if s.service == "turtle")
    assert "cassTurtle" in turtle.dependencies
    assert not any(s.service == "cassTurtle" for s in plan.instances)


def test_migration_step_8_makes_the_ring_cross_region() -> None:
    cross = {s.service for s in resolve_plan("migration", 100, 1, 8).instances if s.cross_region}
    assert cross == {"cassTurtle"}
    assert not any(s.cross_region for s in resolve_plan("migration", 100, 1, 7).instances)


@pytest.mark.parametrize(
    ("step", "scale", "where"), [(10, 100, "--step"), (-1, 100, "--step"), (0, 0, "--scale")]
)
def test_migration_refuses_bad_flags(step: int, scale: int, where: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve_plan("migration", scale, 1, step)
    assert [p.where for p in caught.value.problems] == [where]


@pytest.mark.parametrize("population", [2, 7, 100, 250])
def test_fsm_population_is_the_scale(population: int) -> None:
    plan = resolve_plan("fsm", population)
    names = [s.name for s in plan.instances]
    assert names[0] == "fsm.atlantic.bermuda..blackbeard01...blackbeard.pirate"
    assert names[-1] == f"fsm.atlantic.bermuda..blackbeard{population:02d}...blackbeard.pirate"
    assert len(set(names)) == population
    assert plan.registries == ()
    assert all(s.dependencies == () and s.package == "pirate" for s in plan.instances)


def test_fsm_ignores_regions_as_spigo_does() -> None:
    plan = resolve_plan("fsm", 10, 3)
    assert plan.regions == 1
    assert [s.name for s in plan.instances] == [s.name for s in resolve_plan("fsm", 10, 1).instances]


def test_fsm_addresses_use_the_first_block_as_spigo_does() -> None:
    plan = resolve_plan("fsm", 3)
    first = prefix_for("us-east-1", "zoneA")
    assert [s.ip for s in plan.instances] == [f"{first}0.1", f"{first}0.2", f"{first}0.3"]
    assert plan.instances[0].node == "fsm.atlantic.bermuda.blackbeard01"


@pytest.mark.parametrize("population", [1, 0, -3, PIRATE_BLOCKS * HOSTS_PER_PREFIX + 1])
def test_fsm_refuses_populations_it_cannot_plan(population: int) -> None:
    with pytest.raises(InputError) as caught:
        resolve_plan("fsm", population)
    (problem,) = caught.value.problems
    assert (problem.source, problem.where) == ("fsm", "--scale")
    assert f"{population:,}" in problem.message


def test_unknown_name_lists_what_is_available() -> None:
    with pytest.raises(InputError) as caught:
        resolve_plan("nosuch")
    message = str(caught.value)
    assert message.startswith("nosuch: unknown architecture")
    for name in ("netflixoss", "lamp", "fsm", "migration"):
        assert name in message


def test_a_path_resolves_and_names_instances_after_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "mine_arch.json"
    shutil.copy(catalog.architectures_dir() / "lamp_arch.json", copy)
    plan = resolve_plan(str(copy))
    assert plan.arch == "mine"
    assert {s.node.replace("mine.", "lamp.", 1) for s in plan.instances} == {
        s.node for s in resolve_plan("lamp").instances
    }


def test_a_file_name_with_a_dot_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "v1.2_arch.json"
    shutil.copy(catalog.architectures_dir() / "lamp_arch.json", copy)
    with pytest.raises(InputError, match="rename the file"):
        resolve_plan(str(copy))


def test_plan_refusals_name_the_file() -> None:
    with pytest.raises(InputError) as caught:
        resolve_plan("netflixoss", 100, 17)
    assert caught.value.problems[0].source.endswith("netflixoss_arch.json")


def test_list_covers_every_file_and_builtin() -> None:
    listings = {listing.name: listing for listing in list_architectures()}
    files = {p.name.removesuffix("_arch.json") for p in catalog.architectures_dir().glob("*_arch.json")}
    assert set(listings) == files | {"fsm", "migration"}
    assert all(not listing.problems for listing in listings.values())
    assert listings["netflixoss"].instances == len(resolve_plan("netflixoss").instances)
    assert [s.name for s in listings["lamp"].services] == [
        "rds-mysql",
        "memcache",
        "webserver",
        "webserver-elb",
        "www",
    ]
