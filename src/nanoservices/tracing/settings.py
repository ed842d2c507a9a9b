"""What to export and where: validated once on the driver, then shipped (pickled) to every host.

Flags win over the standard OpenTelemetry variables, which win over defaults. Every bad value is an
InputError naming the flag or variable, so a user fixes it without reading a traceback.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nanoservices.problems import InputError, Problem

Protocol = Literal["grpc", "http/protobuf"]
FlowKind = Literal["zipkin", "spigo", "console"]
SpanPath = Literal["fast", "sdk"]
SPAN_PATHS: tuple[str, ...] = ("fast", "sdk")
PROTOCOLS: tuple[str, ...] = ("grpc", "http/protobuf")
FLOW_KINDS: tuple[str, ...] = ("zipkin", "spigo", "console")
DEFAULT_PROTOCOL = "grpc"  # what the Python SDK's OTLP auto-configuration picks
TRACES_PATH = "/v1/traces"
ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")


class OtlpEndpoint(BaseModel):
    """One OTLP destination. `url` is final: the traces path is already applied for http/protobuf."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    protocol: Protocol
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """The exporter's key in the span counts; the same on every host, so counts can be summed."""
        return f"otlp-{'grpc' if self.protocol == 'grpc' else 'http'} {self.url}"


class TracingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: tuple[OtlpEndpoint, ...] = ()
    flows: frozenset[FlowKind] = frozenset()
    resource_attributes: tuple[tuple[str, str], ...] = ()  # extras from OTEL_RESOURCE_ATTRIBUTES
    environment: str = "nanoservices"  # deployment.environment(.name)
    # Sized for the load: a packed host makes ~20-30k spans/s, and a backend may pause for seconds.
    queue_size: int = Field(default=65_536, ge=1)
    max_export_batch: int = Field(default=1_024, ge=1)
    schedule_delay_s: float = Field(default=0.2, gt=0, le=5)
    export_timeout_s: float = Field(default=5.0, gt=0, le=30)  # one export, retries included
    shutdown_timeout_s: float = Field(default=8.0, gt=0, le=10)
    # --span-path: "fast" records spans compactly and encodes OTLP itself; "sdk" makes SDK span objects.
    span_path: SpanPath = "fast"
    # Mixed into the fast path's ids (tracing/ids.py): two runs of one seed never send the same ids.
    run_id: str = Field(default_factory=lambda: secrets.token_hex(8))
    expected_dir: str | None = None  # the run's --out: hosts write expected/<host>.jsonl there (verify)

    @classmethod
    def from_options(
        cls,
        otlp_endpoints: list[str],
        protocol: str | None,
        headers: str | None,
        flows: list[str],
        environ: Mapping[str, str],
        span_path: str = "fast",
    ) -> TracingSettings | None:
        """Settings from CLI flags and the OTEL_* environment; None when there is nothing to export."""
        problems: list[Problem] = []
        if span_path not in SPAN_PATHS:
            problems.append(Problem("--span-path", "", f"unknown span path {span_path!r}; use fast or sdk"))
        proto = _protocol(protocol, environ, problems)
        header_pairs = _headers(headers, environ, problems)
        endpoints = _endpoints(otlp_endpoints, proto, header_pairs, environ, problems)
        flow_kinds = _flows(flows, problems)
        extras = _resource_attributes(environ, problems)
        numbers = _numbers(environ, problems)
        if problems:
            raise InputError(problems)
        if not endpoints and not flow_kinds:
            return None
        environment = next((v for k, v in extras if k in ENVIRONMENT_KEYS), "nanoservices")
        return cls(
            endpoints=endpoints,
            flows=flow_kinds,
            resource_attributes=tuple((k, v) for k, v in extras if k not in ENVIRONMENT_KEYS),
            environment=environment,
            span_path=span_path,  # type: ignore[arg-type]
            **numbers,
        )


def _pick(
    flag: str | None, flag_name: str, environ: Mapping[str, str], *names: str
) -> tuple[str, str] | None:
    """(value, source) from the flag, else the first variable set (signal-specific names first)."""
    if flag is not None:
        return flag, flag_name
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value, name
    return None


def _protocol(flag: str | None, environ: Mapping[str, str], problems: list[Problem]) -> str:
    picked = _pick(
        flag, "--otlp-protocol", environ, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    if picked is None:
        return DEFAULT_PROTOCOL
    value, source = picked
    value = value.strip().lower()
    if value not in PROTOCOLS:
        problems.append(Problem(source, "", f"unknown protocol {value!r}; use grpc or http/protobuf"))
        return DEFAULT_PROTOCOL
    return value


def _pairs(text: str, source: str, what: str, problems: list[Problem]) -> list[tuple[str, str]]:
    """W3C-baggage-style `key=value,key2=value2`, values percent-decoded (the OTel env format)."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), urllib.parse.unquote(value.strip())
        if not sep or not key:
            problems.append(
                Problem(source, "", f"malformed {what} {item.strip()!r}; write key=value,key2=value2")
            )
            return []
        pairs.append((key, value))
    return pairs


def _headers(
    flag: str | None, environ: Mapping[str, str], problems: list[Problem]
) -> tuple[tuple[str, str], ...]:
    picked = _pick(
        flag, "--otlp-headers", environ, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"
    )
    if picked is None:
        return ()
    pairs = _pairs(picked[0], picked[1], "header", problems)
    return tuple((k.lower(), v) for k, v in pairs)  # gRPC metadata keys must be lower case


def _resource_attributes(environ: Mapping[str, str], problems: list[Problem]) -> list[tuple[str, str]]:
    text = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    return _pairs(text, "OTEL_RESOURCE_ATTRIBUTES", "resource attribute", problems) if text.strip() else []


def _endpoints(
    flags: list[str],
    protocol: str,
    headers: tuple[tuple[str, str], ...],
    environ: Mapping[str, str],
    problems: list[Problem],
) -> tuple[OtlpEndpoint, ...]:
    """Flag endpoints (each may say `grpc=URL` or `http/protobuf=URL`), else the OTel variables."""
    raw: list[tuple[str, str, str, bool]] = []  # (url, protocol, source, is a base URL from the env)
    if flags:
        for flag in flags:
            for item in (part.strip() for part in flag.split(",")):
                if not item:
                    continue
                prefix, sep, rest = item.partition("=")
                if sep and prefix.strip().lower() in PROTOCOLS:
                    raw.append((rest.strip(), prefix.strip().lower(), "--otlp-endpoint", False))
                else:
                    raw.append((item, protocol, "--otlp-endpoint", False))
    elif value := environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        raw.append((value, protocol, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", False))
    elif value := environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        raw.append((value, protocol, "OTEL_EXPORTER_OTLP_ENDPOINT", True))
    endpoints: list[OtlpEndpoint] = []
    for url, proto, source, base in raw:
        checked = _check_url(url, source, problems)
        if checked is None:
            continue
        if proto == "http/protobuf":
            checked = _traces_url(checked, base)
        endpoint = OtlpEndpoint(url=checked, protocol=proto, headers=headers)  # type: ignore[arg-type]
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return tuple(endpoints)


def _check_url(url: str, source: str, problems: list[Problem]) -> str | None:
    fix = "write a URL such as http://127.0.0.1:4317"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        problems.append(Problem(source, "", f"malformed URL {url!r}; {fix}"))
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(Problem(source, "", f"malformed URL {url!r}; {fix}"))
        return None
    if port is None and parts.netloc.endswith(":"):
        problems.append(Problem(source, "", f"malformed URL {url!r} (empty port); {fix}"))
        return None
    return url


def _traces_url(url: str, base: bool) -> str:
    """OTLP/HTTP rules: a base URL from OTEL_EXPORTER_OTLP_ENDPOINT always gets `v1/traces` appended;
    a flag URL gets it only when it has no path (a full signal URL is used as given)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path
    if base:
        path = path.rstrip("/") + TRACES_PATH
    elif path in ("", "/"):
        path = TRACES_PATH
    return urllib.parse.urlunsplit(parts._replace(path=path))


def _flows(flows: list[str], problems: list[Problem]) -> frozenset[str]:
    kinds: set[str] = set()
    for item in (part.strip().lower() for flow in flows for part in flow.split(",")):
        if not item:
            continue
        if item not in FLOW_KINDS:
            problems.append(
                Problem("--flows", "", f"unknown flow kind {item!r}; use zipkin, spigo or console")
            )
            continue
        kinds.add(item)
    return frozenset(kinds)


_INT_VARIABLES = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "queue_size",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "max_export_batch",
}
_MS_VARIABLES = {  # milliseconds, per the OTel spec; signal-specific first
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "export_timeout_s",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "export_timeout_s",
}


def _numbers(environ: Mapping[str, str], problems: list[Problem]) -> dict[str, float | int]:
    """Queue, batch and timeout from the SDK's own variables, so users tune them the usual way."""
    numbers: dict[str, float | int] = {}
    for name, field in _INT_VARIABLES.items():
        value = environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                problems.append(Problem(name, "", f"{value!r} is not a positive whole number"))
            else:
                numbers[field] = int(value)
    for name, field in _MS_VARIABLES.items():
        value = environ.get(name, "").strip()
        if value and field not in numbers:
            if not value.isdigit() or not 0 < int(value) <= 30_000:
                problems.append(Problem(name, "", f"{value!r} is not milliseconds between 1 and 30000"))
            else:
                numbers[field] = int(value) / 1000
    return numbers
