"""`nanoservices run`: simulate an architecture on Ray and print the run summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nanoservices import defaults
from nanoservices.cli import app
from nanoservices.cli._errors import input_errors_exit, refuse
from nanoservices.durations import parse_chat_kv, parse_duration

EXIT_RUNTIME = 1
EXIT_INTERRUPTED = 130  # the shell's convention for a command ended by Ctrl-C


# RunConfig fields as the flags that set them, for its validation errors.
FLAGS = {
    "duration": "-d/--duration",
    "scale": "-p/--scale",
    "regions": "-w/--regions",
    "step": "-s/--step",
    "poll_interval": "-u/--poll-interval",
    "instances_per_host": "-K/--instances-per-host",
    "timeouts": "--timeout",
}


def _flag_problem(error: Any, flags: dict[str, str]) -> str:
    """`-d/--duration must be finite, ...` from one pydantic error of RunConfig."""
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = flags.get(field, "--" + field.replace("_", "-"))
    message = str(error["msg"]).removeprefix("Input ")  # pydantic's own: "Input should be ..."
    return f"{flag} {message[:1].lower()}{message[1:]}"


def _duration(value: str, flag: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _timeouts(values: list[str]) -> dict[str, float]:
    """--timeout SERVICE=DURATION, repeatable; the service is checked against the architecture later."""
    out: dict[str, float] = {}
    for value in values:
        service, sep, duration = value.partition("=")
        if not sep or not service.strip() or not duration.strip():
            raise typer.BadParameter(
                f"{value!r} is not SERVICE=DURATION (e.g. staash=500ms)", param_hint="'--timeout'"
            )
        out[service.strip()] = _duration(duration.strip(), "'--timeout'")
    return out


@app.command()
def run(
    ctx: typer.Context,
    arch: Annotated[str, typer.Argument(help="An architecture name from `nanoservices list`, or a path.")],
    duration: Annotated[
        str, typer.Option("-d", "--duration", help="Run time: seconds or Go style (10s).")
    ] = f"{defaults.DURATION:g}",
    scale: Annotated[
        int, typer.Option("-p", "--scale", help="Percent applied to every count (fsm: pirates).")
    ] = defaults.SCALE,
    regions: Annotated[
        int, typer.Option("-w", "--regions", help="Regions; multiplies each service's regions.")
    ] = defaults.REGIONS,
    step: Annotated[int, typer.Option("-s", "--step", help="migration only: the step, 0-9.")] = defaults.STEP,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help=f"Requests per second from each denominator, up to 100000 (default {defaults.RATE:g}).",
        ),
    ] = None,
    kv: Annotated[
        str | None, typer.Option("--kv", help="spigo's chat:10ms (request interval); instead of --rate.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Makes routing, traffic and chaos reproducible.")
    ] = defaults.SEED,
    poll_interval: Annotated[
        str, typer.Option("-u", "--poll-interval", help="Eureka poll interval.")
    ] = defaults.seconds(defaults.POLL_INTERVAL),
    request_timeout: Annotated[
        str, typer.Option("--request-timeout", help="A request fails after this.")
    ] = defaults.seconds(defaults.REQUEST_TIMEOUT),
    lease_renewal: Annotated[
        str,
        typer.Option(
            "--lease-renewal",
            help="Eureka lease renewal period (Eureka's 30s, scaled); unrenewed leases expire after 3.",
        ),
    ] = defaults.seconds(defaults.LEASE_RENEWAL),
    retries: Annotated[
        int,
        typer.Option(
            "--retries", help="Retries on the next server after a connection failure (Ribbon's; 0: none)."
        ),
    ] = defaults.RETRIES,
    retry_timeouts: Annotated[
        bool,
        typer.Option(
            "--retry-timeouts",
            help="Also retry a timed-out GET on the next server (Ribbon's OkToRetryOnAllOperations).",
        ),
    ] = defaults.RETRY_TIMEOUTS,
    try_timeout: Annotated[
        str,
        typer.Option(
            "--try-timeout",
            help="Give up a try after this long when another server could take its retry, and retry "
            "the timed-out GET there (Ribbon's ReadTimeout; e.g. 300ms; 0: off).",
        ),
    ] = defaults.seconds(defaults.TRY_TIMEOUT),
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight",
            help="Outstanding requests per traffic source before ticks are skipped (0: no limit).",
        ),
    ] = defaults.MAX_IN_FLIGHT,
    sources: Annotated[
        int | None,
        typer.Option(
            "--sources",
            help="Workers per traffic source, each its own process sharing the rate "
            "(default: one per node in a cluster, one per core on one machine).",
        ),
    ] = None,
    instances_per_host: Annotated[
        int | None,
        typer.Option(
            "-K",
            "--instances-per-host",
            help="Instances per Ray actor (1: one actor each). Default 1; fsm: its pirates packed "
            "into one actor per CPU.",
        ),
    ] = None,
    transport: Annotated[
        str,
        typer.Option(
            "--transport", help="How hosts send each other messages: socket (direct) or ray (actor calls)."
        ),
    ] = defaults.TRANSPORT,
    arrivals: Annotated[
        str,
        typer.Option(
            "--arrivals", help="Traffic arrivals: uniform (evenly spaced, as spigo) or poisson (open model)."
        ),
    ] = defaults.ARRIVALS,
    chaos: Annotated[
        bool, typer.Option("--chaos/--no-chaos", help="Chaos monkey kills the victim at half time.")
    ] = defaults.CHAOS,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default runs/ARCH-TIME).")
    ] = None,
    graphml: Annotated[bool, typer.Option("-g", "--graphml", help="Also write graph.graphml.")] = False,
    reduce: Annotated[
        bool, typer.Option("-f", "--reduce", help="Graph nodes per service and zone (spigo -f).")
    ] = False,
    otlp_endpoint: Annotated[
        list[str] | None,
        typer.Option("--otlp-endpoint", help="Export spans over OTLP to this URL (repeatable)."),
    ] = None,
    otlp_protocol: Annotated[
        str | None, typer.Option("--otlp-protocol", help="grpc or http/protobuf (default: env, else grpc).")
    ] = None,
    otlp_headers: Annotated[
        str | None, typer.Option("--otlp-headers", help="key=value,key2=value2 sent with every export.")
    ] = None,
    flows: Annotated[
        str | None,
        typer.Option("--flows", help="Also write flows: zipkin, spigo, console (comma-separated)."),
    ] = None,
    span_path: Annotated[
        str,
        typer.Option(
            "--span-path", help="fast: compact span records encoded to OTLP directly; sdk: SDK span objects."
        ),
    ] = "fast",
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario", help="A scenario file (YAML or JSON): deploys and chaos on the run's clock."
        ),
    ] = None,
    timeout: Annotated[
        list[str] | None,
        typer.Option(
            "--timeout",
            help="SERVICE=DURATION: how long callers wait for that service (Hystrix's per-dependency "
            "timeout), e.g. --timeout staash=500ms; repeatable. The others wait --request-timeout.",
        ),
    ] = None,
    deploy: Annotated[
        list[str] | None,
        typer.Option("--deploy", help="service@version[:strategy]: a red/black (or canary...) deploy."),
    ] = None,
    verify: Annotated[
        str | None,
        typer.Option(
            "--verify",
            help="KIND=URL: after the run, read every trace back from this backend (zipkin, jaeger, "
            "jaeger-v2, tempo, phoenix) and put the verdict in summary.json.",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", envvar="RAY_ADDRESS", help="Join a Ray cluster (auto, ray://...)."),
    ] = None,
) -> None:
    """Run a simulation: every instance on Ray, traffic from the denominators, chaos at half time."""
    import os

    from pydantic import ValidationError

    from nanoservices.config import RunConfig
    from nanoservices.runtime.connection import RayStartError
    from nanoservices.runtime.fsm import instances_per_host as resolve_per_host
    from nanoservices.simulation import NotEnoughMemory, ZonesMissing
    from nanoservices.simulation import run as run_simulation
    from nanoservices.tracing import TracingSettings

    with input_errors_exit():
        tracing = TracingSettings.from_options(
            otlp_endpoint or [],
            otlp_protocol,
            otlp_headers,
            [f.strip() for f in flows.split(",") if f.strip()] if flows else [],
            os.environ,
            span_path.strip().lower(),
        )
    if verify is not None:
        from nanoservices.verify import parse_target

        with input_errors_exit():
            parse_target(verify)
        if not tracing.endpoints:
            refuse(ctx, ["--verify reads back what the run exported: give --otlp-endpoint too"])
    if kv is not None and rate is not None:
        refuse(ctx, ["--rate and --kv both set the request rate; give one of them"])
    if kv is not None:
        try:
            rate = 1.0 / parse_chat_kv(kv)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--kv") from None
    try:
        config = RunConfig(
            arch=arch,
            duration=_duration(duration, "'-d' / '--duration'"),
            scale=scale,
            regions=regions,
            step=step,
            seed=seed,
            rate=rate if rate is not None else defaults.RATE,
            poll_interval=_duration(poll_interval, "'-u' / '--poll-interval'"),
            request_timeout=_duration(request_timeout, "'--request-timeout'"),
            lease_renewal=_duration(lease_renewal, "'--lease-renewal'"),
            retries=retries,
            retry_timeouts=retry_timeouts,
            try_timeout=_duration(try_timeout, "'--try-timeout'"),
            timeouts=_timeouts(timeout or []),
            instances_per_host=resolve_per_host(arch, scale, instances_per_host),
            max_in_flight=max_in_flight,
            sources=sources,
            transport=transport,
            arrivals=arrivals,
            chaos=chaos,
            out_dir=out,
            graphml=graphml,
            reduce_names=reduce,
            address=address,
            tracing=tracing,
            args=tuple(["nanoservices", *sys.argv[1:]]),
            scenario_file=scenario,
            deploys=tuple(deploy or ()),
        )
    except ValidationError as exc:
        flags = {**FLAGS, "rate": "--kv" if kv is not None else "--rate"}
        refuse(ctx, [_flag_problem(error, flags) for error in exc.errors()])
    from nanoservices.cli.live import renderer

    with input_errors_exit(), renderer(lambda line: typer.echo(line, err=True)) as shown:
        try:
            summary = run_simulation(config, on_progress=shown.line, on_live=shown.live)
        except (RayStartError, NotEnoughMemory, ZonesMissing, TimeoutError) as exc:
            typer.echo(f"nanoservices: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        except KeyboardInterrupt:
            typer.echo("nanoservices: interrupted before the run started", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    for line in summary.lines():
        typer.echo(line)
    if verify is not None:
        from nanoservices.verify import verify_after_run

        verdict, lines = verify_after_run(Path(summary.out_dir), verify)
        for line in lines:
            typer.echo(line)
        if not verdict["intact"]:
            raise typer.Exit(EXIT_RUNTIME)
    if summary.timeline_error:
        typer.echo(f"nanoservices: the scenario timeline failed: {summary.timeline_error}", err=True)
        raise typer.Exit(EXIT_RUNTIME)
    if summary.hosts_died:
        typer.echo(f"nanoservices: {len(summary.hosts_died)} host(s) died outside chaos", err=True)
        raise typer.Exit(EXIT_RUNTIME)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
