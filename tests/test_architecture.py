"""The architecture model and its validation: spigo's files load unchanged, bad ones fail in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoservices.architecture import Architecture, load_architecture, parse_architecture
from nanoservices.catalog import architectures_dir
from nanoservices.packages.base import known_packages
from nanoservices.plan import plan_problems, planned_instance_count
from nanoservices.problems import InputError, Problem

ARCH_FILES = sorted(architectures_dir().glob("*_arch.json"))

# spigo's own rejections (BEHAVIOUR.md 2.2): file, JSON path, the offending name.
INVALID = [
    ("testBadPackage_arch.json", "$.services[2].package", "'unknown'"),
    ("testDuplicate_arch.json", "$.services[3].name", "'signup-node'"),
    ("testMissingDep_arch.json", "$.services[3].dependencies[2]", "'missing'"),
]


def problems_of(document: object | str | bytes) -> list[Problem]:
    text = document if isinstance(document, str | bytes) else json.dumps(document)
    with pytest.raises(InputError) as caught:
        parse_architecture(text, "x_arch.json", "x")
    return caught.value.problems


def service(**fields: object) -> dict[str, object]:
    return {"name": "a", "package": "store", "count": 1, "regions": 1, **fields}


def test_every_spigo_architecture_is_shipped(shared_spigo: Path) -> None:
    shipped = {p.name: p.read_bytes() for p in ARCH_FILES}
    reference = {p.name: p.read_bytes() for p in (shared_spigo / "json_arch").glob("*.json")}
    assert shipped == reference  # byte for byte: read unchanged


def test_invalid_copies_match_the_reference(shared_spigo: Path, spigo_data: Path) -> None:
    for path in (shared_spigo / "json_arch_invalid").glob("*.json"):
        assert (spigo_data / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", ARCH_FILES, ids=lambda p: p.stem)
def test_shipped_architecture_loads(path: Path) -> None:
    architecture = load_architecture(path)
    raw = json.loads(path.read_text())
    assert [s.name for s in architecture.services] == [s["name"] for s in raw["services"]]
    assert {s.package for s in architecture.services} <= known_packages()


def test_instance_names_use_the_file_name_not_the_arch_field() -> None:
    # yow_arch.json says "arch": "yogi" but spigo -a yow names instances yow.*
    architecture = load_architecture(architectures_dir() / "yow_arch.json")
    assert (architecture.name, architecture.arch) == ("yow", "yogi")


def test_missing_regions_means_global_and_null_dependencies_are_none() -> None:
    doc = {"services": [{"name": "dns", "package": "denominator", "count": 0, "dependencies": None}]}
    (dns,) = parse_architecture(json.dumps(doc), "x", "x").services
    assert dns.regions == 0
    assert dns.depends_on == ()
    assert dns.version == "v1"


def test_eureka_dependency_is_a_cross_region_marker_not_an_edge() -> None:
    doc = {"services": [service(name="cass", package="priamCassandra", dependencies=["cass", "eureka"])]}
    (cass,) = parse_architecture(json.dumps(doc), "x", "x").services
    assert cass.depends_on == ("cass",)
    assert cass.cross_region


def test_version_extension_is_optional_and_kept() -> None:
    doc = {"services": [service(version="v7")]}
    assert parse_architecture(json.dumps(doc), "x", "x").services[0].version == "v7"


def test_model_field_names_are_spigos_keys() -> None:
    spigo_top = {"arch", "version", "description", "args", "date", "victim", "services"}
    assert spigo_top <= set(Architecture.model_fields)


@pytest.mark.parametrize(("file", "where", "offender"), INVALID)
def test_spigo_rejections_name_the_problem_and_the_offender(
    spigo_data: Path, file: str, where: str, offender: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_architecture(spigo_data / file)
    (problem,) = caught.value.problems
    assert problem.where == where
    assert offender in problem.message
    assert str(problem).startswith(f"{spigo_data / file}: {where}: ")


@pytest.mark.parametrize(
    ("document", "where", "words"),
    [
        ("", "", "empty file"),
        ("   \n", "", "empty file"),
        ("[]", "$", "got an array"),
        ('"text"', "$", "got a string"),
        ("null", "$", "got null"),
        (b"\xff\xfe\x00\x81", "", "not UTF-8"),
        ("[" * 100_000, "", "nested too deeply"),
        ('{"services": [}', "line 1 column 15", "malformed JSON"),
        ('{\n  "services": [\n    {"name": "a",,}\n  ]\n}', "line 3 column 18", "malformed JSON"),
        ({}, "$.services", "missing required key 'services'"),
        ({"services": []}, "$.services", "no services"),
        ({"services": {}}, "$.services", "valid list"),
        ({"services": [7]}, "$.services[0]", "JSON object"),
        ({"services": [service(count="six")]}, "$.services[0].count", 'got "six"'),
        ({"services": [service(count=2.5)]}, "$.services[0].count", "valid integer"),
        ({"services": [service(count=True)]}, "$.services[0].count", "valid integer"),
        ({"services": [service(count=-1)]}, "$.services[0].count", "greater than or equal to 0"),
        ({"services": [service(regions=-2)]}, "$.services[0].regions", "greater than or equal to 0"),
        (
            {"services": [{"package": "store", "count": 1}]},
            "$.services[0].name",
            "missing required key 'name'",
        ),
        ({"services": [service(name="")]}, "$.services[0].name", "empty service name"),
        ({"services": [service(name="a.b")]}, "$.services[0].name", "'a.b' has a dot"),
        ({"services": [service(package="nosuch")]}, "$.services[0].package", "unknown package 'nosuch'"),
        ({"services": [service(dependencies="b")]}, "$.services[0].dependencies", "valid list"),
        (
            {"services": [service(dependencies=["b"])]},
            "$.services[0].dependencies[0]",
            "unknown dependency 'b'",
        ),
        ({"services": [service(colour="red")]}, "$.services[0].colour", "unknown key 'colour'"),
        ({"victim": "nobody", "services": [service()]}, "$.victim", "victim 'nobody'"),
        ({"victim": 3, "services": [service()]}, "$.victim", "valid string"),
        ({"services": [service(), service()]}, "$.services[1].name", "duplicate service name 'a'"),
    ],
)
def test_each_problem_is_located_and_explained(document: object, where: str, words: str) -> None:
    problems = problems_of(document)
    assert [p.where for p in problems] == [where]
    assert words in problems[0].message


def test_all_problems_are_reported_at_once() -> None:
    doc = {
        "victim": "ghost",
        "services": [
            service(name="a", count="many"),
            service(name="b", package="nosuch"),
            service(name="c", dependencies=["zzz"]),
            service(name="c"),
        ],
    }
    # Type errors stop before the cross-field rules can run, so fix the type and look again.
    assert [p.where for p in problems_of(doc)] == ["$.services[0].count"]
    doc["services"][0]["count"] = 1  # type: ignore[index]
    assert [p.where for p in problems_of(doc)] == [
        "$.services[1].package",
        "$.services[3].name",
        "$.services[2].dependencies[0]",
        "$.victim",
    ]


def test_every_type_problem_is_reported_at_once() -> None:
    doc = {"description": 1, "services": [service(count="x", regions="y"), {"name": "b"}]}
    assert sorted(p.where for p in problems_of(doc)) == [
        "$.description",
        "$.services[0].count",
        "$.services[0].regions",
        "$.services[1].count",
        "$.services[1].package",
    ]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_architecture(tmp_path / "nosuch_arch.json")
    assert str(caught.value).startswith(f"{tmp_path / 'nosuch_arch.json'}: no such file")


def test_regions_beyond_the_known_names_are_refused_per_service() -> None:
    doc = {"services": [service(name="a", regions=1), service(name="b", regions=3)]}
    architecture = parse_architecture(json.dumps(doc), "x", "x")
    assert plan_problems(architecture, 100, 5, "x_arch.json") == []  # 15 of the 16 known names
    assert plan_problems(architecture, 100, 6, "x_arch.json") == [
        Problem(
            "x_arch.json",
            "$.services[1].regions",
            "service 'b' needs 18 regions (3 x --regions 6) but 16 region names are known; "
            "lower --regions or the service's regions",
        )
    ]
    assert [p.where for p in plan_problems(architecture, 100, 17, "x")] == [
        "$.services[0].regions",
        "$.services[1].regions",
    ]


@pytest.mark.parametrize(("scale", "regions"), [(0, 1), (-5, 1), (100, 0), (100, -1)])
def test_nonpositive_flags_are_refused(scale: int, regions: int) -> None:
    architecture = load_architecture(architectures_dir() / "lamp_arch.json")
    (problem,) = plan_problems(architecture, scale, regions, "lamp")
    assert problem.where == ("--scale" if scale < 1 else "--regions")


def test_a_plan_too_large_for_memory_is_refused_with_its_count() -> None:
    architecture = load_architecture(architectures_dir() / "netflixoss_arch.json")
    scale = 10**9
    (problem,) = plan_problems(architecture, scale, 1, "netflixoss")
    assert f"{planned_instance_count(architecture, scale, 1):,} instances" in problem.message
    assert "lower --scale" in problem.message


def test_more_instances_than_one_zone_has_addresses_is_refused() -> None:
    doc = {"services": [service(count=3 * 65_534 + 1)]}  # zoneA gets one more than a /16 holds
    (problem,) = plan_problems(parse_architecture(json.dumps(doc), "x", "x"), 100, 1, "x")
    assert "65,535 instances would share the address block 54.198.0.0/16" in problem.message


def test_problem_lines_are_single_lines() -> None:
    doc = {"services": [service(name="a\nb", dependencies=["c\nd"]), {"x\ny": 1}]}
    for problem in problems_of(doc):
        assert "\n" not in str(problem)
