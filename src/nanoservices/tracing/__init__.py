"""OpenTelemetry for the simulation: settings (driver), per-host tracing with counted export, file flows.

Per host, spans take the fast path (compact records encoded straight to OTLP, records.py/record_encode.py)
or the SDK path (SDK span objects), chosen by `--span-path`; host.py explains both.

`TracingSettings` and `write_flows` import no OpenTelemetry SDK, so the driver and CLI stay light;
`HostTracing` (host processes only) loads the SDK on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanoservices.tracing.flows import write_flows
from nanoservices.tracing.settings import OtlpEndpoint, TracingSettings

if TYPE_CHECKING:
    from nanoservices.tracing.host import HostTracing

__all__ = ["HostTracing", "OtlpEndpoint", "TracingSettings", "write_flows"]


def __getattr__(name: str) -> Any:
    if name == "HostTracing":
        from nanoservices.tracing.host import HostTracing

        return HostTracing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
