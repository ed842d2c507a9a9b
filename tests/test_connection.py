"""Joining a Ray cluster: an address nobody answers at is refused in one line (exit 1) instead of
Ray retrying for minutes, and the hook into Ray's private worker API degrades quietly. Ray-free
except where a test says it imports Ray's worker module (no Ray instance is started here)."""

from __future__ import annotations

import socket
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nanoservices.cli import app
from nanoservices.problems import InputError
from nanoservices.runtime import connection
from nanoservices.runtime.connection import RayStartError, host_port, probe, ray_session

runner = CliRunner()
FIX = "start one with `ray start --head` or use --address auto"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback TCP socket that listens (and never speaks Ray)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1:1", "connection refused"),  # nothing listens on port 1
        ("bogus.invalid:1234", "name not resolved"),  # .invalid never resolves (RFC 2606)
        ("ray://127.0.0.1:1", "connection refused"),  # Ray Client would wait 30 s, then warn
    ],
)
def test_run_against_an_unreachable_address_exits_1_in_one_line(
    tmp_path: Path, address: str, reason: str
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, ["run", "lamp", "--address", address, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"nanoservices: cannot reach a Ray cluster at {address} ({reason}); {FIX}"
    ]
    assert result.stdout == ""
    assert [w for w in caught if issubclass(w.category, UserWarning)] == []


@pytest.mark.timeout(60)
def test_ray_address_from_the_environment_is_probed_too(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "lamp", "--out", str(tmp_path / "out")], env={"RAY_ADDRESS": "127.0.0.1:1"}
    )
    assert result.exit_code == 1, result.output
    expected = f"nanoservices: cannot reach a Ray cluster at 127.0.0.1:1 (connection refused); {FIX}"
    assert result.stderr.splitlines() == [expected]


def test_probe_passes_where_something_listens_and_connects_once(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    probe(f"127.0.0.1:{port}")
    accepted, _ = listener.accept()  # the probe's connection reached the other end
    accepted.close()
    listener.settimeout(0)
    with pytest.raises(BlockingIOError):
        listener.accept()  # and it was the only one


def test_probe_names_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(address: tuple[str, int], timeout: float) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(connection.socket, "create_connection", silent)
    with pytest.raises(RayStartError) as caught:
        probe("10.1.2.3:6379", timeout=0.5)
    assert str(caught.value) == f"cannot reach a Ray cluster at 10.1.2.3:6379 (no answer within 0.5 s); {FIX}"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("head.example:6380", ("head.example", 6380)),
        ("[::1]:6379", ("::1", 6379)),
        ("ray://head.example", ("head.example", connection.CLIENT_PORT)),
        ("ray://head.example:10002", ("head.example", 10002)),
        ("ray://[::1]", ("::1", connection.CLIENT_PORT)),
    ],
)
def test_host_port_reads_every_address_form(address: str, expected: tuple[str, int]) -> None:
    assert host_port(address) == expected


@pytest.mark.parametrize(
    "address", ["localhost", "::1", "head:x", "head:0", "head:70000", "ray://", "http://h:1"]
)
def test_host_port_refuses_what_ray_cannot_join(address: str) -> None:
    with pytest.raises(InputError) as caught:
        host_port(address)
    assert [p.source for p in caught.value.problems] == ["--address"]
    assert f"{address!r} is not a Ray address" in caught.value.problems[0].message


def fake_ray(monkeypatch: pytest.MonkeyPatch, initialised: bool, init: Any = None) -> types.ModuleType:
    """A stand-in `ray` module: ray_session is tested without starting (or importing) Ray."""
    module = types.ModuleType("ray")
    module.is_initialized = lambda: initialised  # type: ignore[attr-defined]
    module.init = init  # type: ignore[attr-defined]
    module.shutdown = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", module)
    monkeypatch.setitem(sys.modules, "ray._private.worker", None)  # the warning hook's import fails: skipped
    return module


def test_auto_is_left_to_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[str] = []
    monkeypatch.setattr(connection, "probe", probed.append)
    ray = fake_ray(monkeypatch, initialised=True)
    with ray_session("auto") as session:
        assert session is ray
    assert probed == []


def test_a_named_address_is_probed_even_when_ray_is_initialised(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ray(monkeypatch, initialised=True)
    with (
        pytest.raises(RayStartError, match=r"^cannot reach a Ray cluster at 127\.0\.0\.1:1 "),
        ray_session("127.0.0.1:1"),
    ):
        pass


def test_ray_clients_timeout_warning_becomes_the_one_error_line(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    calls: list[dict[str, Any]] = []

    def init(**kwargs: Any) -> None:
        calls.append(kwargs)
        warnings.warn("Ray Client connection timed out. Ensure that the Ray Client port ...", stacklevel=1)
        raise ConnectionError("ray client connection timeout")

    fake_ray(monkeypatch, initialised=False, init=init)
    address = f"ray://127.0.0.1:{listener.getsockname()[1]}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RayStartError) as raised, ray_session(address):
            pass
    assert str(raised.value) == f"cannot join the Ray cluster at {address}: ray client connection timeout"
    assert [call["address"] for call in calls] == [address]
    assert caught == []


# The hook into Ray's private API: these import ray._private.worker (no Ray instance is started).


def test_the_pool_warning_filter_drops_only_that_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    import ray._private.worker as ray_worker

    printed: list[list[str]] = []
    monkeypatch.setattr(
        ray_worker, "print_to_stdstream", lambda data, ignore_prefix: printed.append(data["lines"])
    )
    connection._quiet_worker_pool_warnings(ray)
    hooked = ray_worker.print_to_stdstream
    connection._quiet_worker_pool_warnings(ray)  # idempotent: not wrapped twice
    assert ray_worker.print_to_stdstream is hooked
    pool = "WARNING: 70 worker processes have been started on node: abc"
    ray_worker.print_to_stdstream({"lines": ["a", pool, "b"], "pid": 1}, ignore_prefix=False)
    ray_worker.print_to_stdstream({"lines": [pool], "pid": 1}, ignore_prefix=False)
    assert printed == [["a", "b"]]


def test_the_filter_skips_quietly_when_ray_renames_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    import ray._private.worker as ray_worker

    monkeypatch.delattr(ray_worker, "print_to_stdstream")
    connection._quiet_worker_pool_warnings(ray)
    assert not hasattr(ray_worker, "print_to_stdstream")


def test_the_filter_skips_quietly_when_rays_worker_module_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    import ray._private.worker as ray_worker

    before = ray_worker.print_to_stdstream
    monkeypatch.setitem(sys.modules, "ray._private.worker", None)  # makes the import fail
    connection._quiet_worker_pool_warnings(ray)
    assert ray_worker.print_to_stdstream is before


def test_a_raylet_paragraph_becomes_one_plain_line_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill -9 of a host's worker made Ray print a coloured paragraph on stdout among the summary."""
    import ray
    import ray._private.worker as ray_worker

    printed: list[list[str]] = []
    monkeypatch.setattr(
        ray_worker, "print_to_stdstream", lambda data, ignore_prefix: printed.append(data["lines"])
    )
    connection._quiet_worker_pool_warnings(ray)
    paragraph = (
        "\x1b[33m(raylet)\x1b[0m A worker died or was killed while executing a task by an unexpected system "
        "error. To troubleshoot the problem, check the logs for the dead worker. RayTask ID: ffff\n"
        "Worker ID: abc\nNode ID: def"
    )
    ray_worker.print_to_stdstream({"lines": [paragraph], "pid": "raylet"}, ignore_prefix=False)
    out, err = capsys.readouterr()
    assert printed == [] and out == ""
    assert err.splitlines() == [
        "ray: (raylet) A worker died or was killed while executing a task by an unexpected system error"
    ]
