"""Connecting to Ray: an embedded single-node Ray on loopback (laptop mode), or an existing cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nanoservices.problems import InputError, Problem


class RayStartError(RuntimeError):
    """Ray could not be started or joined: a runtime failure (exit 1), not bad input."""


def effective_address(address: str | None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


def _check_address(address: str) -> None:
    if not (address == "auto" or address.startswith(("ray://", "127.", "localhost")) or ":" in address):
        message = f"{address!r} is not a Ray address; use auto, ray://HOST:PORT or HOST:PORT"
        raise InputError([Problem("--address", "", message)])


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Yield the ray module connected as asked; shut down what this call started."""
    address = effective_address(address)
    if address is not None:
        _check_address(address)
    if address is None:
        # Before Ray is imported: keeps every Ray process of the embedded node on 127.0.0.1.
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
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise RayStartError(f"cannot join the Ray cluster at {address}: {exc}") from None
    except Exception as exc:
        raise RayStartError(f"Ray could not start: {type(exc).__name__}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_worker_pool_warnings(ray: Any) -> None:
    """One Ray actor per instance is the design, so the raylet's "N worker processes have been
    started" warning fires on every run and would land on our stdout among the summary lines.
    Ray has no switch for it (its listener thread prints every raylet error); drop just that one."""
    import ray._private.worker as ray_worker

    original = ray_worker.print_to_stdstream
    if getattr(original, "_nanoservices_quiet", False):
        return

    def print_except_pool_size(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        lines = [line for line in data.get("lines", []) if "worker processes have been started" not in line]
        if lines:
            original({**data, "lines": lines}, *args, **kwargs)

    print_except_pool_size._nanoservices_quiet = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = print_except_pool_size
