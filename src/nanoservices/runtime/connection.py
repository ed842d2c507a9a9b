"""Connecting to Ray: an embedded single-node Ray on loopback (laptop mode), or an existing cluster."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nanoservices.problems import InputError, Problem

PROBE_TIMEOUT = 3.0  # seconds for the TCP probe of a cluster address; a live head answers in milliseconds
CLIENT_PORT = 10001  # Ray Client's default port, which `ray://HOST` means
FIX = "start one with `ray start --head` or use --address auto"


class RayStartError(RuntimeError):
    """Ray could not be started or joined: a runtime failure (exit 1), not bad input."""


def effective_address(address: str | None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


def host_port(address: str) -> tuple[str, int]:
    """The host and port `address` names (HOST:PORT, [IPv6]:PORT or ray://HOST[:PORT]), or InputError."""
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://")
    host, _, port_text = rest.rpartition(":")
    if not host or host.endswith(":"):  # no port, or a bare IPv6 address
        host, port_text = rest, ""
    host = "" if "://" in rest else host.removeprefix("[").removesuffix("]")  # Ray reads x:// as Ray Client
    if host and not port_text and client:
        return host, CLIENT_PORT
    if host and port_text.isdigit() and 0 < int(port_text) < 65536:
        return host, int(port_text)
    message = f"{address!r} is not a Ray address; use auto, ray://HOST:PORT or HOST:PORT (port 1-65535)"
    raise InputError([Problem("--address", "", message)])


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """RayStartError unless something accepts a TCP connection at `address`.

    ray.init retries an unreachable GCS for minutes, printing a warning each time, and Ray Client
    waits 30 s; one plain connect says within seconds that nothing is there.
    """
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except socket.gaierror:
        reason = "name not resolved"
    except ConnectionRefusedError:
        reason = "connection refused"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
    raise RayStartError(f"cannot reach a Ray cluster at {address} ({reason}); {FIX}")


def loopback(address: str) -> bool:
    """Whether `address` (HOST:PORT, not auto/local) names this machine's loopback interface."""
    if address in ("auto", "local"):
        return False
    host = host_port(address)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Yield the ray module connected as asked; shut down what this call started."""
    address = effective_address(address)
    if address not in (None, "auto", "local"):
        probe(address)  # also when Ray is initialised: a caller who names an address means that cluster
    if address is None or loopback(address):
        # Before Ray is imported: keeps every Ray process of the embedded node on 127.0.0.1, and a
        # driver joining a head on loopback there too (else Ray takes this machine's outward address
        # as the driver's, finds no raylet at it and waits without a word).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        yield ray  # a caller (a notebook, a test fixture) owns this connection
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        # "local" always starts a new single-node Ray; with no address Ray would attach to any
        # cluster already running on this machine (another user's, another test's).
        kwargs["address"] = "local"
        kwargs["include_dashboard"] = False
    else:
        kwargs["address"] = address
    _quiet_worker_pool_warnings(ray)
    try:
        with warnings.catch_warnings():
            # Ray Client's own timeout warning; the ConnectionError that follows says the same in one line.
            warnings.filterwarnings("ignore", message="Ray Client connection timed out", category=UserWarning)
            ray.init(**kwargs)
    except ConnectionError as exc:
        raise RayStartError(f"cannot join the Ray cluster at {address}: {exc}") from None
    except Exception as exc:
        raise RayStartError(f"Ray could not start: {type(exc).__name__}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _raylet_line(lines: list[str]) -> None:
    """A raylet message as one plain line on stderr: the run's summary reports what it means
    (a host that died is named there), so the first sentence is enough here."""
    text = " ".join(_ANSI.sub("", line).strip() for line in lines).strip()
    first = text.split(". ", 1)[0].rstrip(".")
    if first:
        sys.stderr.write(f"ray: {first[:300]}\n")


def _quiet_worker_pool_warnings(ray: Any) -> None:
    """One Ray actor per instance is the design, so the raylet's "N worker processes have been
    started" warning fires on every run and would land on our stdout among the summary lines.
    Ray has no switch for it (its listener thread prints every raylet error); drop just that one.

    The hook is Ray's private API: if a release moves it, skip the filter (it is cosmetic) rather
    than fail the run.
    """
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if not callable(original) or getattr(original, "_nanoservices_quiet", False):
        return

    def print_except_pool_size(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        lines = [line for line in data.get("lines", []) if "worker processes have been started" not in line]
        if not lines:
            return
        if data.get("pid") == "raylet":  # a paragraph in colour on stdout, among our summary lines
            _raylet_line(lines)
            return
        original({**data, "lines": lines}, *args, **kwargs)

    print_except_pool_size._nanoservices_quiet = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = print_except_pool_size
