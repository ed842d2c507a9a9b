"""Shared fixtures. Keep small: other test modules import nothing from here."""

from __future__ import annotations

from pathlib import Path

import pytest

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
