"""The run's defaults, in one place: the CLI's options, RunConfig's fields and the runtime's setup
classes read them from here, so a default changed here changes everywhere at once.

Durations are seconds; the CLI shows them with a unit (`5s`).
"""

from __future__ import annotations

from typing import Literal

DURATION = 10.0  # -d: seconds of traffic
SCALE = 100  # -p: percent applied to every count (fsm: number of pirates)
REGIONS = 1  # -w
STEP = 0  # -s: migration step, spigo's -s
SEED = 1
RATE = 100.0  # requests per second per traffic source (spigo: chat 10ms)
POLL_INTERVAL = 1.0  # -u: Eureka poll, spigo's -u
REQUEST_TIMEOUT = 2.0
# Eureka heartbeat (Eureka's 30 s, scaled); leases last 3 periods. 1 s heartbeats from 65
# one-instance hosts took much of a 2-core machine's CPU.
LEASE_RENEWAL = 5.0
RETRIES = 1  # Ribbon's MaxAutoRetriesNextServer; 0: no retries
TRY_TIMEOUT = 0.0  # seconds a try may take when another server could take its retry (0: the whole timeout)
RETRY_TIMEOUTS = False  # retry a timed-out GET on the next server too (Ribbon's OkToRetryOnAllOperations)
MAX_IN_FLIGHT = 64  # outstanding requests per traffic source before ticks are skipped; 0: no limit
INSTANCES_PER_HOST = 1  # -K: one Ray actor per instance
TRANSPORT: Literal["socket", "ray"] = "socket"  # direct sockets between hosts, or actor calls
ARRIVALS: Literal["uniform", "poisson"] = "uniform"  # traffic arrivals: evenly spaced, or poisson
CHAOS = True  # chaos monkey kills the victim at half time

# `verify`: how long to keep asking for traces not yet whole, the share checked, requests at once.
VERIFY_WAIT = 30.0
VERIFY_SAMPLE = "100%"
VERIFY_WORKERS = 8


def seconds(value: float) -> str:
    """A default duration as the CLI shows and parses it: `5s`."""
    return f"{value:g}s"
