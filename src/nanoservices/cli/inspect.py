"""Commands that read architectures without running anything: list, validate, plan."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Annotated

import typer

from nanoservices import catalog, defaults
from nanoservices.cli import app
from nanoservices.cli._errors import EXIT_INPUT, input_errors_exit, report
from nanoservices.geography import ANY, ZONES
from nanoservices.plan import DeploymentPlan, InstanceSpec
from nanoservices.problems import MAX_INPUT_BYTES, InputError, Problem

# spigo's short flags, so its users' muscle memory works.
Scale = Annotated[
    int,
    typer.Option(
        "-p", "--scale", help="Percent applied to every service's count (fsm: the pirate population)."
    ),
]
Regions = Annotated[
    int, typer.Option("-w", "--regions", help="Regions; multiplies each service's `regions`.")
]
Step = Annotated[int, typer.Option("-s", "--step", help="migration only: the step, 0-9.")]


@app.command("list")
def list_command() -> None:
    """List the architectures with their services and instance counts (at 100 %, one region)."""
    broken = []
    for listing in catalog.list_architectures():
        if listing.problems:
            typer.echo(f"{listing.name}: invalid, see `nanoservices validate {listing.name}`")
            broken.extend(listing.problems)
            continue
        typer.echo(
            f"{listing.name}: {_plural(len(listing.services), 'service')}, {listing.instances} instances"
            + (f" - {listing.description}" if listing.description else "")
        )
        width = max(len(s.name) for s in listing.services)
        for service in listing.services:
            typer.echo(f"    {service.name:<{width}}  {service.package:<15} {service.instances:>5}")
    if broken:
        report(broken)
        raise typer.Exit(EXIT_INPUT)


@app.command()
def validate(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Architecture files (or names from `nanoservices list`); with --arch, scenario files."
        ),
    ],
    scale: Scale = defaults.SCALE,
    regions: Regions = defaults.REGIONS,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch", help="Check FILES as scenario files against this architecture (a name or path)."
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option("-d", "--duration", help="With --arch: the run time to check the scenarios for.")
    ] = f"{defaults.DURATION:g}",
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also say which reader (JSON or YAML) read each file.")
    ] = False,
) -> None:
    """Check architecture files, or with --arch scenario files; exit 0 when all are valid, else 2 with
    one line per problem on stderr."""
    if arch is not None:
        _validate_scenarios(files, arch, scale, regions, duration, verbose)
        return
    problems = []
    for name in files:
        try:
            count = catalog.check(name, scale, regions)
        except InputError as exc:
            problems.extend(_scenario_hint(name) or exc.problems)
            continue
        if verbose and catalog.is_path(name):
            typer.echo(f"{name}: read by the JSON reader (architecture files are JSON)")
        typer.echo(f"{name}: ok, {count:,} instances at {scale}% in {_plural(regions, 'region')}")
    if problems:
        report(problems)
        raise typer.Exit(EXIT_INPUT)


def _validate_scenarios(
    files: list[str], arch: str, scale: int, regions: int, duration: str, verbose: bool
) -> None:
    """`validate FILE --arch ARCH`: each scenario checked as `run ARCH --scenario FILE` checks it."""
    from pathlib import Path

    from nanoservices.durations import parse_duration
    from nanoservices.scenario.binding import run_scenario
    from nanoservices.scenario.document import reader_of

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'-d' / '--duration'") from None
    with input_errors_exit():
        deployment = catalog.resolve_plan(arch, scale, regions)
    problems = []
    for name in files:
        path = Path(name)
        try:
            scenario = run_scenario(path, (), deployment, seconds)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        assert scenario is not None
        if verbose:
            typer.echo(f"{name}: {reader_of(path.read_bytes(), path.suffix.lower() == '.json')}")
        typer.echo(
            f"{name}: ok, {_plural(len(scenario.actions), 'action')} and "
            f"{_plural(len(scenario.versions), 'version profile')}, against {deployment.arch} at {scale}% "
            f"in {_plural(regions, 'region')} for a {seconds:g} s run"
        )
    if problems:
        report(problems)
        raise typer.Exit(EXIT_INPUT)


def _scenario_hint(name: str) -> list[Problem]:
    """A scenario given where an architecture was expected: say how to check it instead."""
    from pathlib import Path

    from nanoservices.scenario.document import parse_document

    path = Path(name)
    try:
        if not path.is_file() or path.stat().st_size > MAX_INPUT_BYTES:
            return []
        document = parse_document(path.read_bytes(), name, json_only=path.suffix.lower() == ".json")
    except (InputError, OSError):
        return []
    if not isinstance(document, dict) or "timeline" not in document or "services" in document:
        return []
    fix = f"check it against an architecture: nanoservices validate {name} --arch ARCH -d SECONDS"
    return [Problem(name, "", f"a scenario file, not an architecture; {fix}")]


@app.command()
def plan(
    arch: Annotated[str, typer.Argument(help="A name from `nanoservices list`, or a path to a .json file.")],
    scale: Scale = defaults.SCALE,
    regions: Regions = defaults.REGIONS,
    step: Step = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per instance.")] = False,
) -> None:
    """Show what a run would deploy: instances per service, region and zone, with totals."""
    with input_errors_exit():
        deployment = catalog.resolve_plan(arch, scale, regions, step)
    if as_json:
        _write_json(deployment.instances)
    else:
        for line in plan_table(deployment):
            typer.echo(line)


def instance_record(spec: InstanceSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "node": spec.node,
        "service": spec.service,
        "package": spec.package,
        "version": spec.version,
        "region": spec.region,
        "zone": spec.zone,
        "ip": spec.ip,
        "dependencies": list(spec.dependencies),
        "cross_region": spec.cross_region,
    }


def _write_json(instances: tuple[InstanceSpec, ...]) -> None:
    # One object per line: still one JSON list, but greppable and cheap to write for 60k instances.
    body = ",\n".join(json.dumps(instance_record(spec)) for spec in instances)
    sys.stdout.write(f"[\n{body}\n]\n" if body else "[]\n")


def plan_table(deployment: DeploymentPlan) -> list[str]:
    """Rows of service x region, columns of zones (`*` = cross-zone), with per-region and grand totals."""
    cells = Counter((s.service, s.package, s.region, s.zone) for s in deployment.instances)
    rows = list(dict.fromkeys((svc, pkg, region) for svc, pkg, region, _ in cells))
    zones = _ordered({s.zone for s in deployment.instances})
    regions = list(dict.fromkeys(region for _, _, region in rows))
    header = ["service", "package", "region", *zones, "total"]
    body = []
    for svc, pkg, region in rows:
        counts = [cells[(svc, pkg, region, zone)] for zone in zones]
        body.append([svc, pkg, region, *map(_cell, counts), str(sum(counts))])
    totals = []
    if deployment.regions > 1:
        for region in regions:
            counts = [
                sum(n for (_, _, r, z), n in cells.items() if r == region and z == zone) for zone in zones
            ]
            totals.append(["total", "", region, *map(_cell, counts), str(sum(counts))])
    counts = [sum(n for (_, _, _, z), n in cells.items() if z == zone) for zone in zones]
    totals.append(["total", "", "", *map(_cell, counts), str(sum(counts))])
    registries = _plural(len(deployment.registries), "Eureka registry")
    summary = (
        f"{deployment.arch}: {len(deployment.instances):,} instances at {deployment.scale}% "
        f"in {_plural(deployment.regions, 'region')}, {registries}"
    )
    legend = (
        "region * = global (one instance outside any region); zone * = one cross-zone instance per region"
    )
    return [summary, "", *_aligned([header, *body], totals), "", legend]


def _ordered(zones: set[str]) -> list[str]:
    known = [z for z in ZONES if z in zones]
    return known + sorted(zones - set(ZONES) - {ANY}) + ([ANY] if ANY in zones else [])


def _cell(count: int) -> str:
    return str(count) if count else "-"


def _aligned(rows: list[list[str]], totals: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows + totals) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        left = [cell.ljust(widths[i]) for i, cell in enumerate(row[:3])]
        right = [cell.rjust(widths[i + 3]) for i, cell in enumerate(row[3:])]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(rows[0]))
    return [line(rows[0]), rule, *(line(r) for r in rows[1:]), rule, *(line(r) for r in totals)]


def _plural(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {noun[:-1]}ies" if noun.endswith("y") else f"{n:,} {noun}s"
