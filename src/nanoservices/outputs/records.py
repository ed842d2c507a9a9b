"""Edda's history records: what the configuration looked like, and when it changed.

Names are nine-field full names; writers shorten them for their format.
Timestamps are seconds since the epoch (float), taken where the change happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ExitReason(str, Enum):
    NORMAL = "normal"  # stopped at the end of the run
    CHAOS = "chaos"  # killed by chaos monkey
    FAILURE = "failure"  # its host died outside chaos
    RETIRED = "retired"  # its server group was replaced by a deploy
    ROLLED_BACK = "rolled_back"  # its server group was rolled back


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    package: str
    ip: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    """source discovered target and started routing to it."""

    source: str
    target: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class ForgetRecord:
    """source learnt that target is gone and stopped routing to it."""

    source: str
    target: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class DoneRecord:
    name: str
    exit: ExitReason
    timestamp: float


GraphRecord = NodeRecord | EdgeRecord | ForgetRecord | DoneRecord
