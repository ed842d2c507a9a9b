"""--try-timeout (Ribbon's ReadTimeout under Hystrix's timeout), in process on simulated time: a
server that goes silent (its callers' batches to it vanish, as behind a machine cut off the
network) only produces timeouts. A timeout is retried on the next server, but a try that waits the
whole request timeout ends when its own caller's does: the retry comes too late. A try that gives up
after --try-timeout leaves the retry room, and the users see no failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nanoservices.architecture import load_architecture
from nanoservices.config import RunConfig
from nanoservices.plan import expand
from nanoservices.result import Accounted
from nanoservices.runtime.local import LocalFleet, LocalRun
from nanoservices.summary import RunSummary, summarise

ARCHITECTURES = Path(__file__).resolve().parents[1] / "architectures"


async def silent_server_run(retries: int, try_timeout: float, retry_timeouts: bool = False) -> RunSummary:
    """netflixoss at one instance per host; after 1 s one homepage instance goes silent for good."""
    plan = expand(load_architecture(ARCHITECTURES / "netflixoss_arch.json"), 100, 1)
    config = RunConfig(
        arch=plan.arch, seed=7, retries=retries, try_timeout=try_timeout, retry_timeouts=retry_timeouts,
        request_timeout=1.0, poll_interval=0.5,
    )  # fmt: skip
    run = LocalRun(plan, config)
    fleet = LocalFleet(run)
    await run.start()
    await fleet.wait(1.0)
    victim = sorted(s.name for s in plan.instances if s.service == "homepage")[0]
    silent = run.host_of(victim)
    for i, host in enumerate(run.hosts):
        if i != silent:
            host.set_partition(frozenset({silent}))  # what they send it is lost without a word
    await fleet.wait(6.0)
    return summarise(plan, run.config, await run.finish(), 0.0)


def test_a_try_timeout_turns_a_silent_servers_timeouts_into_successes() -> None:
    without = asyncio.run(silent_server_run(retries=0, try_timeout=0.0))
    whole_try = asyncio.run(silent_server_run(retries=1, try_timeout=0.0, retry_timeouts=True))
    short_try = asyncio.run(silent_server_run(retries=1, try_timeout=0.2))
    for summary in (without, whole_try, short_try):
        assert summary.accounted is Accounted.HOLDS, summary.accounting_problems
    # Without retries each of the silent server's callers loses the requests it sends there until
    # it blacks the server out: the users see timeouts.
    assert without.requests_failed.get("timeout", 0) > 0, without.requests_failed
    # Retried after the whole timeout: the retry is made, but the caller's own caller has given up
    # by then, so the users see as many failures as without retries.
    assert whole_try.clients["retries"] > 0
    assert whole_try.requests_failed.get("timeout", 0) == without.requests_failed["timeout"]
    # Retried after the try timeout: those requests succeed on the next server. Not always all of
    # them: the caller's own callers (zuul behind the ELB) give their tries the same try timeout,
    # so a try that waited on the silent server and then its retry can outlast its caller's try,
    # whose retry may in turn meet the silent server as its last one. Seeded: 8 lost before, 1 now.
    assert short_try.clients["retries"] > 0
    assert set(short_try.requests_failed) <= {"timeout"}
    assert 4 * short_try.requests_failed.get("timeout", 0) <= without.requests_failed["timeout"]
