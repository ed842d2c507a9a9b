"""Shared fixtures. Keep small: other test modules import nothing from here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Before any test imports Ray: every Ray process the tests start binds 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE. `ci` (the default: `make test`, CI) draws the same
# examples on every run, so a red build reproduces and a green one is not luck; no deadline, since a
# shared 2-core machine makes timings noise. `fuzz` (`make fuzz`) draws 20,000 fresh ones per property.
# Test modules set no max_examples of their own, so nothing caps the fuzz profile.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, max_examples=200, print_blob=True, **_UNTIMED)
settings.register_profile("fuzz", max_examples=20_000, **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]


@pytest.hookimpl(trylast=True)  # after Hypothesis's own plugin has applied --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    """`--hypothesis-seed N` must choose the examples; a derandomized profile would ignore it silently."""
    if config.getoption("--hypothesis-seed", None) is not None and settings.default.derandomize:
        seeded = f"{settings.get_current_profile_name()}-seeded"
        settings.register_profile(seeded, derandomize=False)
        settings.load_profile(seeded)


@pytest.fixture(scope="session")
def spigo_data() -> Path:
    """Copies of spigo's reference files (Apache-2.0), so tests never need the sibling checkout."""
    return REPO / "tests" / "data" / "spigo"


@pytest.fixture(scope="session")
def shared_spigo() -> Path:
    """The read-only reference checkout, a sibling of the repo in CI (`<repo>/../shared/spigo`)."""
    path = REPO.parent / "shared" / "spigo"
    if not path.is_dir():
        pytest.skip(f"spigo reference data not found at {path} (the CI clone has shared/ next to the repo)")
    return path


@pytest.fixture(scope="session")
def tiny_arch() -> Path:
    """11 instances: a K=1 run stays at 16 Ray actors (hosts, 3 registries, Edda, supervisor)."""
    return REPO / "tests" / "data" / "arch" / "tiny_arch.json"


@pytest.fixture(scope="session")
def ray_local() -> Iterator[object]:
    """One embedded Ray for the session, on loopback, no dashboard; shut down at the end."""
    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()
