"""What a host actor's process imports. Every Ray actor is a fresh Python process, so each module a
host loads is paid once per instance at K=1: an untraced host must not load OpenTelemetry, and a
host loads the behaviour modules of its own instances only."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.runtime.placement import host_setups
from nanoservices.scenario.actions import VersionBehaviour
from nanoservices.scenario.distributions import ErrorRate, LogNormal

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"

# Runs in a fresh interpreter, as a Ray worker does: unpickle the setup, import the actor module,
# build the host, and report what got imported.
PROBE = """
import json, pickle, sys
setup = pickle.loads(sys.stdin.buffer.read())
import nanoservices.runtime.ray_host
from nanoservices.runtime.host import HostCore
HostCore(setup, tracing=None)
watched = ("nanoservices", "opentelemetry", "pydantic")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(watched))))
"""


def modules_imported_by_host(setup: object) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], input=pickle.dumps(setup), capture_output=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("package", ["karyon", "priamCassandra"])
def test_an_untraced_host_imports_only_what_its_instances_need(package: str) -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    setups = host_setups(plan, RunConfig(arch=plan.arch, instances_per_host=1))
    setup = next(s for s in setups if s.specs[0].package == package)

    imported = modules_imported_by_host(setup)

    behaviours = {m for m in imported if m.startswith("nanoservices.packages.")}
    behaviours.discard("nanoservices.packages.base")
    expected = {"karyon": {"karyon", "forwarding"}, "priamCassandra": {"priam_cassandra", "store"}}[package]
    assert behaviours == {f"nanoservices.packages.{name}" for name in expected}
    assert not {m for m in imported if m.startswith(("opentelemetry", "pydantic"))}
    assert "nanoservices.runtime.spans" not in imported


def test_a_host_whose_instances_have_profiles_still_loads_no_pydantic() -> None:
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    setups = host_setups(plan, RunConfig(arch=plan.arch, instances_per_host=1))
    setup = next(s for s in setups if s.specs[0].package == "karyon")
    profile = VersionBehaviour(LogNormal(0.04, 0.4), ErrorRate(0.02))
    profiled = replace(setup, specs=[replace(spec, profile=profile) for spec in setup.specs])

    imported = modules_imported_by_host(profiled)

    assert "nanoservices.model.distributions" in imported  # the profile did travel
    assert not {m for m in imported if m.startswith(("opentelemetry", "pydantic"))}
