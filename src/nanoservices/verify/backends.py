"""One small adapter per backend behind one interface: `fetch(trace_id)` returns the trace's spans, None
when the backend does not know the trace (yet), or raises BackendError when it is down or answers garbage.

    zipkin     GET {url}/api/v2/trace/{id}          Zipkin v2 JSON (a list of spans; 404 when unknown)
    jaeger     GET {url}/api/v3/traces/{id}         Jaeger api_v3: {"result": OTLP JSON TracesData}
    jaeger-v2  GET {url}/api/traces/{id}            Jaeger's UI API: {"data": [{spans, processes}]}
    tempo      GET {url}/api/traces/{id}            Tempo: {"batches": [OTLP JSON ResourceSpans]}
    phoenix    GET {url}/v1/projects/{p}/spans?trace_id={id}   Arize Phoenix REST, paginated

Connections are kept alive per worker thread (stdlib http.client), so 100,000 reads do not open 100,000
sockets. OTLP JSON ids may be hex (the OTLP spec) or base64 (protobuf's default JSON, what Tempo sends):
both are read.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from nanoservices.verify.model import BackendError, FoundSpan, Keeps

TIMEOUT_S = 10.0
_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")


class Backend:
    """The interface: `kind`, `url`, `keeps`, and `fetch`. Subclasses implement `_parse` (and `_path`)."""

    kind = ""
    keeps = Keeps()
    accept = "application/json"

    def __init__(self, url: str, project: str = "default", timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.timeout_s = timeout_s
        parts = urllib.parse.urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._base = parts.path
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = self._local.connection = kind(self._netloc, timeout=self.timeout_s)
        return connection

    def _request(self, target: str) -> tuple[int, bytes]:
        """One GET on this thread's kept-alive connection; a connection the server closed while idle is
        reopened once."""
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("GET", target, headers={"Accept": self.accept})
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._local.connection = None
                if attempt == 2 or not isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError):
                    raise BackendError(
                        f"{self.kind} at {self.url} is not answering ({_reason(exc)})"
                    ) from None
        raise AssertionError("unreachable")

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any | None:
        """JSON of a GET; None on 404. BackendError for anything but 200 or 404 and for a body not JSON."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self._request(f"{self._base}{path}{query}")
        if status == 404:
            return None
        if status != 200:
            raise BackendError(f"{self.kind} at {self.url} answered HTTP {status} to {path}")
        try:
            return json.loads(body)
        except ValueError:
            raise BackendError(f"{self.kind} at {self.url} answered {path} with something not JSON") from None

    def fetch(self, trace_id: str) -> list[FoundSpan] | None:
        body = self._get(self._path(trace_id))
        if body is None:
            return None
        try:
            spans = self._parse(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackendError(
                f"{self.kind} at {self.url} answered trace {trace_id} with something that is not a "
                f"{self.kind} trace ({type(exc).__name__}: {exc})"
            ) from None
        return spans or None

    def _path(self, trace_id: str) -> str:
        raise NotImplementedError

    def _parse(self, body: Any) -> list[FoundSpan]:
        raise NotImplementedError


def _reason(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


class Zipkin(Backend):
    kind = "zipkin"
    keeps = Keeps(lower_case_names=True)

    def _path(self, trace_id: str) -> str:
        return f"/api/v2/trace/{trace_id}"

    def _parse(self, body: Any) -> list[FoundSpan]:
        if not isinstance(body, list):
            raise TypeError("a Zipkin v2 trace is a JSON list of spans")
        out = []
        for span in body:
            tags = span.get("tags") or {}
            out.append(
                FoundSpan(
                    _hex(span["id"], 16),
                    _hex(span["parentId"], 16) if span.get("parentId") else "",
                    str((span.get("localEndpoint") or {}).get("serviceName", "")),
                    str(span.get("name", "")),
                    str(span.get("kind") or "INTERNAL"),
                    "error" in tags,
                    dict(tags),
                )
            )
        return out


class JaegerV2(Backend):
    kind = "jaeger-v2"

    def _path(self, trace_id: str) -> str:
        return f"/api/traces/{trace_id}"

    def _parse(self, body: Any) -> list[FoundSpan]:
        out = []
        for trace in body["data"] or []:
            processes = trace.get("processes") or {}
            for span in trace["spans"]:
                tags = {t["key"]: t.get("value") for t in span.get("tags") or []}
                parents = [
                    r["spanID"] for r in span.get("references") or [] if r.get("refType") == "CHILD_OF"
                ]
                process = processes.get(span.get("processID"), {})
                out.append(
                    FoundSpan(
                        _hex(span["spanID"], 16),
                        _hex(parents[0], 16) if parents else "",
                        str(process.get("serviceName", "")),
                        str(span.get("operationName", "")),
                        str(tags.pop("span.kind", "internal")).upper(),
                        tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR",
                        tags,
                    )
                )
        return out


class JaegerV3(Backend):
    kind = "jaeger"

    def _path(self, trace_id: str) -> str:
        return f"/api/v3/traces/{trace_id}"

    def _parse(self, body: Any) -> list[FoundSpan]:
        result = body["result"]
        return otlp_json_spans(result.get("resourceSpans") or [])


class Tempo(Backend):
    kind = "tempo"

    def _path(self, trace_id: str) -> str:
        return f"/api/traces/{trace_id}"

    def _parse(self, body: Any) -> list[FoundSpan]:
        if "batches" not in body and "resourceSpans" not in body:
            raise KeyError("batches")
        return otlp_json_spans(body.get("batches") or body.get("resourceSpans") or [])


class Phoenix(Backend):
    """Phoenix keeps neither the OTel span kind nor resource attributes (so no service.name)."""

    kind = "phoenix"
    keeps = Keeps(service=False, kind=False)
    page = 1000

    def fetch(self, trace_id: str) -> list[FoundSpan] | None:
        path = f"/v1/projects/{urllib.parse.quote(self.project, safe='')}/spans"
        params: dict[str, Any] = {"trace_id": trace_id, "limit": self.page}
        out: list[FoundSpan] = []
        while True:
            body = self._get(path, params)
            if body is None:  # the project is made with its first span: none stored yet
                return None
            try:
                out.extend(self._parse(body))
                cursor = body.get("next_cursor")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise BackendError(
                    f"phoenix at {self.url} answered trace {trace_id} with something that is not a page "
                    f"of spans ({type(exc).__name__}: {exc})"
                ) from None
            if not cursor:
                return out or None
            params = {**params, "cursor": cursor}

    def _parse(self, body: Any) -> list[FoundSpan]:
        return [
            FoundSpan(
                _hex(span["context"]["span_id"], 16),
                _hex(span["parent_id"], 16) if span.get("parent_id") else "",
                "",
                str(span.get("name", "")),
                "",
                span.get("status_code") == "ERROR",
                dict(span.get("attributes") or {}),
            )
            for span in body["data"]
        ]


def otlp_json_spans(resource_spans: Iterable[dict[str, Any]]) -> list[FoundSpan]:
    """Spans of OTLP JSON ResourceSpans (scopeSpans, or the older instrumentationLibrarySpans)."""
    out = []
    for rs in resource_spans:
        resource = _otlp_attributes((rs.get("resource") or {}).get("attributes") or [])
        service = str(resource.get("service.name", ""))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for span in ss.get("spans") or []:
                status = (span.get("status") or {}).get("code", 0)
                out.append(
                    FoundSpan(
                        _hex(span["spanId"], 16),
                        _hex(span["parentSpanId"], 16) if span.get("parentSpanId") else "",
                        service,
                        str(span.get("name", "")),
                        _enum(span.get("kind", 0), "SPAN_KIND_", _KINDS),
                        _enum(status, "STATUS_CODE_", ("UNSET", "OK", "ERROR")) == "ERROR",
                        _otlp_attributes(span.get("attributes") or []),
                    )
                )
    return out


def _enum(value: Any, prefix: str, names: tuple[str, ...]) -> str:
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else str(value)
    return str(value).removeprefix(prefix)


def _otlp_attributes(pairs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _any_value(kv.get("value") or {}) for kv in pairs}


def _any_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])  # a string in OTLP JSON (64-bit)
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"].get("values") or [])]
    return None


def _hex(value: Any, chars: int) -> str:
    """An id as `chars` lower-case hex digits: given as hex (leading zeros may be cut, as Jaeger's are),
    or as base64 of its bytes (protobuf's JSON)."""
    text = str(value)
    if len(text) <= chars and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower().rjust(chars, "0")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"id {text!r} is neither hex nor base64") from None
    return raw.hex().rjust(chars, "0")


BACKENDS: dict[str, Callable[..., Backend]] = {
    b.kind: b for b in (Zipkin, JaegerV3, JaegerV2, Tempo, Phoenix)
}


def make_backend(kind: str, url: str, project: str = "default", timeout_s: float = TIMEOUT_S) -> Backend:
    """The adapter for `kind`; ValueError naming the kinds for any other."""
    factory = BACKENDS.get(kind.strip().lower())
    if factory is None:
        raise ValueError(f"unknown backend {kind!r}; use one of {', '.join(BACKENDS)}")
    return factory(url, project=project, timeout_s=timeout_s)
