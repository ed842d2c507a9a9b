"""A real tracing backend for end-to-end tests: Arize Phoenix, run from .phoenix/venv on loopback.

Why Phoenix: it is a real OTLP backend (gRPC and HTTP/protobuf) installable from PyPI, and it lets a test
read every stored span back over a REST API, so "every trace arrived whole" is checked against what a
backend actually kept, not against our own exporter's opinion. Install it with scripts/install_phoenix.sh.

    with PhoenixServer() as px:
        exporter = OTLPSpanExporter(endpoint=px.otlp_grpc_endpoint, insecure=True)   # or the HTTP one
        ...
        spans = px.wait_for_spans(count=42, timeout=30)      # ingestion is asynchronous: poll, then read
        assert missing_parents(spans) == {}

What Phoenix keeps of a span (arize-phoenix 20.26): trace/span/parent ids, name, start/end time, status
code and message, span attributes, events. It does NOT keep the OTel span kind (its `span_kind` is the
OpenInference kind, from the `openinference.span.kind` attribute, else "UNKNOWN") nor resource attributes
(put `service.name` on the span too if a test needs it). Attribute types survive (ints, bools, lists).
Phoenix writes spans ~100 per transaction every ~0.1 s (its BulkInserter), so on this 2-core machine it
stores only ~150-200 spans/s: keep end-to-end volumes to a few hundred spans, and count high volumes with
tests/support/otlp_receiver.py instead.

Projects: Phoenix files every ResourceSpans under a project chosen by
  1. the `x-project-name` request header (OTLP/HTTP only), else
  2. the resource attribute `openinference.project.name`, else
  3. the project "default".
`spans()` with no project lists every project and gathers spans from all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "PHOENIX_PROJECT_ATTRIBUTE",
    "PHOENIX_VENV",
    "PhoenixServer",
    "PhoenixUnavailable",
    "phoenix_installed",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOENIX_VENV = REPO_ROOT / ".phoenix" / "venv"
PHOENIX_PYTHON = PHOENIX_VENV / "bin" / "python"
LAUNCHER = Path(__file__).resolve().with_name("phoenix_launcher.py")
PHOENIX_PROJECT_ATTRIBUTE = "openinference.project.name"  # resource attribute that picks the project
_PORT_TAKEN = re.compile(r"(?i)address already in use|failed to bind|errno 98")

# Everything that keeps a test server quiet, private and local.
_QUIET_ENV = {
    "PHOENIX_TELEMETRY_ENABLED": "false",  # no FullStory / Scarf pixels in the UI
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",  # no web fonts, telemetry, WASM download
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",  # no /chat assistant
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
    "PHOENIX_ENABLE_PROMETHEUS": "false",  # would listen on a fixed port (9090)
    "PHOENIX_ENABLE_AUTH": "false",
    "PHOENIX_DISABLE_RATE_LIMIT": "true",
    "PHOENIX_LOGGING_LEVEL": "warning",
    "PHOENIX_DB_LOGGING_LEVEL": "warning",
}


class PhoenixUnavailable(RuntimeError):
    """Phoenix is not installed here or did not come up; the message says why and how to fix it."""


def phoenix_installed() -> bool:
    """True when scripts/install_phoenix.sh has been run (tests skip otherwise)."""
    return PHOENIX_PYTHON.is_file() and (PHOENIX_VENV / "bin" / "phoenix").is_file()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PhoenixServer:
    """`phoenix serve` on 127.0.0.1 with free ports and a throw-away working dir (SQLite inside).

    Use as a context manager; leaving it terminates the server (SIGTERM, then SIGKILL after
    `stop_timeout`) and deletes the working dir.
    """

    def __init__(
        self,
        *,
        start_timeout: float = 120.0,
        stop_timeout: float = 10.0,
        max_spans_queue_size: int = 100_000,
        extra_env: dict[str, str] | None = None,
        keep_workdir: bool = False,
    ) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.max_spans_queue_size = max_spans_queue_size
        self.extra_env = dict(extra_env or {})
        self.keep_workdir = keep_workdir
        self.http_port = 0
        self.grpc_port = 0
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> PhoenixServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> PhoenixServer:
        """Start Phoenix and block until its REST API and gRPC port answer; retries once on a port race."""
        if not phoenix_installed():
            raise PhoenixUnavailable(
                f"Phoenix is not installed in {PHOENIX_VENV}: run scripts/install_phoenix.sh"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="nanoservices-phoenix-"))
        self.log_path = self.workdir / "phoenix.log"
        last_error: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between our probe and Phoenix's bind
            try:
                self._spawn()
                self._wait_ready()
                return self
            except PhoenixUnavailable as exc:
                last_error = exc
                port_race = _PORT_TAKEN.search(self.log_tail(200)) is not None
                self._terminate()
                if not port_race:  # any other failure would only repeat
                    break
        self.stop()
        raise last_error or PhoenixUnavailable("Phoenix did not start")

    def _env(self) -> dict[str, str]:
        assert self.workdir is not None
        # Drop inherited PHOENIX_* / OTEL_* settings: a developer's database URL or collector endpoint
        # must not leak into the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
        env.update(_QUIET_ENV)
        env.update(
            {
                "PHOENIX_HOST": "127.0.0.1",
                "PHOENIX_PORT": str(self.http_port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_WORKING_DIR": str(self.workdir),
                "PHOENIX_SQL_DATABASE_URL": f"sqlite:///{self.workdir / 'phoenix.db'}",
                "PHOENIX_MAX_SPANS_QUEUE_SIZE": str(self.max_spans_queue_size),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self) -> None:
        assert self.workdir is not None and self.log_path is not None
        self.http_port, self.grpc_port = _free_port(), _free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = _free_port()
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _terminate
        self._proc = subprocess.Popen(
            [str(PHOENIX_PYTHON), str(LAUNCHER), "serve"],
            cwd=self.workdir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches any child it spawns
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise PhoenixUnavailable(
                    f"phoenix serve exited with code {self._proc.returncode} while starting:\n"
                    f"{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.2)  # poll interval while a subprocess boots; the deadline bounds the wait
        raise PhoenixUnavailable(
            f"phoenix serve not ready after {self.start_timeout:.0f}s:\n{self.log_tail()}"
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as resp:
                if resp.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
        return _port_open(self.grpc_port)

    def stop(self) -> None:
        """Terminate Phoenix (and its process group), then remove the working dir; idempotent."""
        self._terminate()
        if self.workdir is not None and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                self._signal(proc, signal.SIGTERM)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._signal(proc, signal.SIGKILL)
                    proc.wait(self.stop_timeout)
            else:  # leader gone; make sure nothing it spawned lingers in its group
                self._signal(proc, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # the group we created with start_new_session (pgid == pid)

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of Phoenix's combined stdout/stderr, for failure messages."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- endpoints -----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """UI + REST API root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        """Full traces URL for the OTLP/HTTP exporter's `endpoint=`."""
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """For the OTLP/gRPC exporter's `endpoint=` (with `insecure=True`)."""
        return f"http://127.0.0.1:{self.grpc_port}"

    # -- REST ----------------------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        with urllib.request.urlopen(f"{self.base_url}{path}{query}", timeout=30) as resp:
            return json.load(resp)

    def _paginate(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self._get(path, {**params, **({"cursor": cursor} if cursor else {})})
            yield from page.get("data", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def projects(self) -> list[str]:
        """Names of every project that exists (the "default" one always does)."""
        return [p["name"] for p in self._paginate("/v1/projects", {"limit": 100})]

    def spans(self, project: str | None = None, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every stored span of `project` (all projects when None), read through the REST API page by page
        (GET /v1/projects/{name}/spans, cursor-paginated, oldest first; page_size <= 1000).

        Each span is a plain dict: trace_id, span_id, parent_span_id ("" for a root), name, attributes,
        status_code, status_message, start_time, end_time (ISO strings), events (names), span_kind
        (OpenInference kind, not the OTel kind) and project.
        """
        names = [project] if project is not None else self.projects()
        out: list[dict[str, Any]] = []
        for name in names:
            path = f"/v1/projects/{urllib.parse.quote(name, safe='')}/spans"
            try:
                raw = list(self._paginate(path, {"limit": page_size, "sort": "id", "order": "asc"}))
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and project is not None:  # project not created yet: no spans so far
                    return []
                raise
            out.extend(_flatten_span(s, name) for s in raw)
        return out

    def wait_for_spans(
        self, count: int, timeout: float = 30.0, project: str | None = None
    ) -> list[dict[str, Any]]:
        """Poll `spans()` until at least `count` are stored or `timeout` passes; returns the last read.

        Why: Phoenix acknowledges an export before it writes the spans (a queue and a background
        insert), so a read right after force_flush() can come back short.
        """
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if len(spans) >= count or time.monotonic() >= deadline:
                return spans
            time.sleep(0.25)  # poll interval against a remote store; the deadline bounds the wait


def _flatten_span(span: dict[str, Any], project: str) -> dict[str, Any]:
    context = span.get("context") or {}
    return {
        "trace_id": context.get("trace_id", ""),
        "span_id": context.get("span_id", ""),
        "parent_span_id": span.get("parent_id") or "",
        "name": span.get("name", ""),
        "attributes": span.get("attributes") or {},
        "status_code": span.get("status_code", ""),
        "status_message": span.get("status_message", ""),
        "start_time": span.get("start_time"),
        "end_time": span.get("end_time"),
        "events": [e.get("name", "") for e in span.get("events") or []],
        "span_kind": span.get("span_kind", ""),
        "project": project,
    }
