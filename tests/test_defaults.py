"""One place for the run's defaults: the `run` command's options, RunConfig, HostSetup and
BehaviourSettings agree with nanoservices.defaults (a default typed again anywhere, differently,
fails here). Read by introspection, so a new option or field is checked without a new line."""

from __future__ import annotations

import dataclasses
from typing import Any

import typer

from nanoservices import defaults
from nanoservices.cli import app
from nanoservices.config import RunConfig
from nanoservices.durations import parse_duration
from nanoservices.packages.base import BehaviourSettings
from nanoservices.runtime.host import HostSetup

# RunConfig field -> the defaults module's name
FIELDS = {
    "duration": "DURATION",
    "scale": "SCALE",
    "regions": "REGIONS",
    "step": "STEP",
    "seed": "SEED",
    "rate": "RATE",
    "poll_interval": "POLL_INTERVAL",
    "request_timeout": "REQUEST_TIMEOUT",
    "lease_renewal": "LEASE_RENEWAL",
    "retries": "RETRIES",
    "retry_timeouts": "RETRY_TIMEOUTS",
    "max_in_flight": "MAX_IN_FLIGHT",
    "instances_per_host": "INSTANCES_PER_HOST",
    "transport": "TRANSPORT",
    "arrivals": "ARRIVALS",
    "chaos": "CHAOS",
}


def command_defaults(name: str) -> dict[str, Any]:
    command = typer.main.get_command(app)
    params = command.commands[name].params  # type: ignore[attr-defined]
    return {param.name: param.default for param in params if param.name}


def as_value(shown: object, like: object) -> object:
    """A CLI default as the value it stands for: `5s` -> 5.0 where the field is a duration."""
    return parse_duration(shown) if isinstance(like, float) and isinstance(shown, str) else shown


def config_defaults() -> dict[str, Any]:
    fields = RunConfig.model_fields.items()
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in fields
        if not field.is_required()
    }


def test_run_config_takes_its_defaults_from_the_defaults_module() -> None:
    config = config_defaults()
    assert {field: config[field] for field in FIELDS} == {
        field: getattr(defaults, name) for field, name in FIELDS.items()
    }


def test_every_run_option_shared_with_run_config_has_run_configs_default() -> None:
    """None means `decided later` (--rate from --kv, -K by architecture, --sources by cluster)."""
    options, config = command_defaults("run"), config_defaults()
    shared = {name for name in options if name in config and options[name] is not None}
    assert {"duration", "poll_interval", "lease_renewal", "retry_timeouts", "max_in_flight"} <= shared
    assert {name: as_value(options[name], config[name]) for name in shared} == {
        name: config[name] for name in shared
    }
    later = {name for name in options if name in config and options[name] is None}
    assert {"rate", "instances_per_host", "sources"} <= later
    assert RunConfig(arch="netflixoss").rate == defaults.RATE  # --rate or --kv, else the default


def test_every_host_setup_default_shared_with_run_config_is_run_configs() -> None:
    host = {f.name: f.default for f in dataclasses.fields(HostSetup) if f.default is not dataclasses.MISSING}
    config = config_defaults()
    shared = set(host) & set(config)
    assert {"lease_renewal", "retries", "retry_timeouts", "max_in_flight"} <= shared
    as_host = {name: tuple(sorted(v.items())) if isinstance(v, dict) else v for name, v in config.items()}
    assert {name: host[name] for name in shared} == {name: as_host[name] for name in shared}


def test_behaviour_settings_default_to_a_default_run() -> None:
    config = RunConfig(arch="netflixoss").behaviour_settings
    assert BehaviourSettings() == config
    assert BehaviourSettings().request_interval == 1.0 / defaults.RATE


def test_other_commands_read_the_defaults_module_too() -> None:
    validate, verify = command_defaults("validate"), command_defaults("verify")
    assert (validate["scale"], validate["regions"]) == (defaults.SCALE, defaults.REGIONS)
    assert parse_duration(validate["duration"]) == defaults.DURATION
    assert parse_duration(verify["wait"]) == defaults.VERIFY_WAIT
    assert (verify["sample"], verify["seed"], verify["workers"]) == (
        defaults.VERIFY_SAMPLE,
        defaults.SEED,
        defaults.VERIFY_WORKERS,
    )
    assert defaults.seconds(defaults.LEASE_RENEWAL) == "5s"
