"""Commands that read architectures without running anything: list, validate, plan."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Annotated

import typer

from nanoservices import catalog
from nanoservices.cli import app
from nanoservices.cli._errors import EXIT_INPUT, input_errors_exit, report
from nanoservices.geography import ANY, ZONES
from nanoservices.plan import DeploymentPlan, InstanceSpec
from nanoservices.problems import InputError

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
        list[str], typer.Argument(help="Architecture files (or names from `nanoservices list`).")
    ],
    scale: Scale = 100,
    regions: Regions = 1,
) -> None:
    """Check architecture files; exit 0 when all are valid, else 2 with one line per problem on stderr."""
    problems = []
    for arch in files:
        try:
            count = catalog.check(arch, scale, regions)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        typer.echo(f"{arch}: ok, {count:,} instances at {scale}% in {_plural(regions, 'region')}")
    if problems:
        report(problems)
        raise typer.Exit(EXIT_INPUT)


@app.command()
def plan(
    arch: Annotated[str, typer.Argument(help="A name from `nanoservices list`, or a path to a .json file.")],
    scale: Scale = 100,
    regions: Regions = 1,
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
