"""One place for the run's defaults: the `run` command's options, RunConfig and HostSetup agree with
nanoservices.defaults (a default typed again anywhere, differently, fails here)."""

from __future__ import annotations

import dataclasses

import typer

from nanoservices import defaults
from nanoservices.cli import app
from nanoservices.config import RunConfig
from nanoservices.durations import parse_duration
from nanoservices.runtime.host import HostSetup

# RunConfig field -> (its `run` option's parameter name, the defaults module's name)
FIELDS = {
    "duration": "DURATION",
    "scale": "SCALE",
    "regions": "REGIONS",
    "step": "STEP",
    "seed": "SEED",
    "poll_interval": "POLL_INTERVAL",
    "request_timeout": "REQUEST_TIMEOUT",
    "lease_renewal": "LEASE_RENEWAL",
    "retries": "RETRIES",
    "max_in_flight": "MAX_IN_FLIGHT",
    "transport": "TRANSPORT",
    "arrivals": "ARRIVALS",
    "chaos": "CHAOS",
}


def test_the_run_command_and_run_config_take_their_defaults_from_one_module() -> None:
    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    options = {param.name: param.default for param in run.params}
    config = RunConfig(arch="netflixoss")
    for field, name in FIELDS.items():
        expected = getattr(defaults, name)
        shown = options[field]
        cli = parse_duration(shown) if isinstance(expected, float) else shown
        assert (field, cli, getattr(config, field)) == (field, expected, expected)
    assert options["rate"] is None and config.rate == defaults.RATE  # --rate or --kv, else the default
    assert config.instances_per_host == defaults.INSTANCES_PER_HOST
    assert defaults.seconds(defaults.LEASE_RENEWAL) == "5s"


def test_host_setup_renews_leases_and_retries_as_a_run_does() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(HostSetup)}
    assert (fields["lease_renewal"], fields["retries"]) == (defaults.LEASE_RENEWAL, defaults.RETRIES)
    config = RunConfig(arch="netflixoss")
    assert (config.lease_renewal, config.retries) == (fields["lease_renewal"], fields["retries"])
