"""Shared fixtures. Keep small: other test modules import nothing from here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before any test imports Ray: every Ray process the tests start binds 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

REPO = Path(__file__).resolve().parents[1]


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
