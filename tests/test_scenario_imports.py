"""Hosts will sample latency models and emit events: those modules must not pull in pydantic or YAML."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import nanoservices.scenario
from nanoservices.scenario import Event, LogNormal, Scenario
from nanoservices.model.distributions import ErrorRate
watched = ("pydantic", "yaml", "nanoservices.scenario", "nanoservices.model")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(watched))))
"""


def test_models_and_events_import_without_pydantic_or_yaml() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, check=True, timeout=60)
    assert set(json.loads(result.stdout)) == {
        "nanoservices.model",
        "nanoservices.model.behaviour",
        "nanoservices.model.distributions",
        "nanoservices.model.quantities",
        "nanoservices.model.ring",
        "nanoservices.scenario",
        "nanoservices.scenario.actions",
        "nanoservices.scenario.events",
    }


def test_the_loaders_come_on_first_use() -> None:
    import nanoservices.scenario as scenario
    from nanoservices.scenario.validate import load_scenario

    assert scenario.load_scenario is load_scenario
