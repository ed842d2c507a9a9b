"""How one service version behaves: the architecture's own profile and a scenario's `versions:`.

In the model layer, so an architecture and a plan hold one without importing the scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nanoservices.capacity import Capacity
    from nanoservices.model.distributions import ErrorRate, LatencyModel


@dataclass(frozen=True, slots=True)
class VersionBehaviour:
    """A `versions:` profile: what it leaves as None stays as the architecture says."""

    latency: LatencyModel | None = None
    errors: ErrorRate | None = None
    capacity: Capacity | None = None  # workers, queue and service time per instance; None: unbounded

    def over(self, base: VersionBehaviour | None) -> VersionBehaviour:
        """This profile on top of the architecture's: what it leaves as None stays as the base says."""
        if base is None:
            return self
        return VersionBehaviour(
            latency=self.latency if self.latency is not None else base.latency,
            errors=self.errors if self.errors is not None else base.errors,
            capacity=self.capacity if self.capacity is not None else base.capacity,
        )
