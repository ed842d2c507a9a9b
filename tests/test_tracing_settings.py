"""TracingSettings.from_options: flags win over OTEL_* variables; every bad value is one InputError line."""

from __future__ import annotations

import pickle

import pytest

from nanoservices.problems import InputError
from nanoservices.tracing import OtlpEndpoint, TracingSettings


def settings(
    endpoints: list[str] | None = None,
    protocol: str | None = None,
    headers: str | None = None,
    flows: list[str] | None = None,
    **environ: str,
) -> TracingSettings | None:
    return TracingSettings.from_options(endpoints or [], protocol, headers, flows or [], environ)


def only_endpoint(s: TracingSettings | None) -> OtlpEndpoint:
    assert s is not None
    assert len(s.endpoints) == 1
    return s.endpoints[0]


def test_nothing_to_export_gives_none() -> None:
    assert settings() is None
    assert settings(OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_RESOURCE_ATTRIBUTES="a=b") is None


def test_flag_endpoint_defaults_to_grpc_and_is_used_as_given() -> None:
    endpoint = only_endpoint(settings(["http://127.0.0.1:4317"]))
    assert (endpoint.url, endpoint.protocol) == ("http://127.0.0.1:4317", "grpc")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/traces"),
        ("https://collector.example:443/custom/path", "https://collector.example:443/custom/path"),
    ],
)
def test_http_flag_endpoint_gets_traces_path_only_without_a_path(url: str, expected: str) -> None:
    assert only_endpoint(settings([url], "http/protobuf")).url == expected


def test_env_base_endpoint_always_gets_the_signal_path_appended() -> None:
    s = settings(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318/otel/", OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"
    )
    assert only_endpoint(s).url == "http://c:4318/otel/v1/traces"


def test_env_traces_endpoint_is_used_as_is_and_beats_the_base_one() -> None:
    s = settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://t:4318/x",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://base:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    assert only_endpoint(s).url == "http://t:4318/x"


def test_flags_win_over_environment() -> None:
    s = settings(
        ["http://flag:4317"],
        "grpc",
        "x-flag=1",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://env:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_HEADERS="x-env=2",
    )
    endpoint = only_endpoint(s)
    assert (endpoint.url, endpoint.protocol, endpoint.headers) == (
        "http://flag:4317",
        "grpc",
        (("x-flag", "1"),),
    )


def test_signal_specific_variables_win_over_generic_ones() -> None:
    s = settings(
        ["http://h:4318"],
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_HEADERS="a=1",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="b=2",
    )
    endpoint = only_endpoint(s)
    assert (endpoint.protocol, endpoint.headers) == ("http/protobuf", (("b", "2"),))


def test_several_endpoints_each_with_its_own_protocol() -> None:
    s = settings(["grpc=http://a:4317", "http/protobuf=http://b:4318", "http://c:4317,http://c:4317"], "grpc")
    assert s is not None
    assert [(e.url, e.protocol) for e in s.endpoints] == [
        ("http://a:4317", "grpc"),
        ("http://b:4318/v1/traces", "http/protobuf"),
        ("http://c:4317", "grpc"),  # duplicates collapse
    ]
    assert len({e.name for e in s.endpoints}) == 3


def test_headers_and_resource_attributes_are_percent_decoded() -> None:
    s = settings(
        ["http://a:4317"],
        headers="Authorization=Bearer%20abc, x-team = blue",
        OTEL_RESOURCE_ATTRIBUTES="team=a%2Cb,deployment.environment.name=staging",
    )
    assert s is not None
    assert s.endpoints[0].headers == (("authorization", "Bearer abc"), ("x-team", "blue"))
    assert s.resource_attributes == (("team", "a,b"),)
    assert s.environment == "staging"


def test_flows_alone_are_enough_and_accept_commas() -> None:
    s = settings(flows=["zipkin,spigo", "console"])
    assert s is not None
    assert s.flows == frozenset({"zipkin", "spigo", "console"})
    assert s.endpoints == ()


def test_sdk_tuning_variables() -> None:
    s = settings(
        flows=["zipkin"],
        OTEL_BSP_MAX_QUEUE_SIZE="1000",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="100",
        OTEL_EXPORTER_OTLP_TIMEOUT="2500",
    )
    assert s is not None
    assert (s.queue_size, s.max_export_batch, s.export_timeout_s) == (1000, 100, 2.5)


def test_settings_are_frozen_and_picklable() -> None:
    s = settings(["http://a:4317"], flows=["zipkin"], OTEL_RESOURCE_ATTRIBUTES="k=v")
    assert s is not None
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(ValueError):
        s.queue_size = 3  # type: ignore[misc]


def test_shutdown_bound_is_at_most_ten_seconds() -> None:
    with pytest.raises(ValueError):
        TracingSettings(shutdown_timeout_s=11)


@pytest.mark.parametrize(
    ("kwargs", "source", "hint"),
    [
        (
            {"endpoints": ["http://a:4317"], "protocol": "http/json"},
            "--otlp-protocol",
            "grpc or http/protobuf",
        ),
        (
            {"endpoints": ["http://a:4317"], "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc or http/protobuf",
        ),
        (
            {"endpoints": ["http://a:4317"], "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "grpc or http/protobuf",
        ),
        ({"endpoints": ["127.0.0.1:4317"]}, "--otlp-endpoint", "http://127.0.0.1:4317"),
        ({"endpoints": ["ftp://a:4317"]}, "--otlp-endpoint", "http://127.0.0.1:4317"),
        ({"endpoints": ["http://a:notaport"]}, "--otlp-endpoint", "http://127.0.0.1:4317"),
        ({"endpoints": ["http://:4317"]}, "--otlp-endpoint", "http://127.0.0.1:4317"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost"},
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4317",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:99999"},
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4317",
        ),
        ({"flows": ["zipkin", "jaeger"]}, "--flows", "zipkin, spigo or console"),
        ({"endpoints": ["http://a:4317"], "headers": "novalue"}, "--otlp-headers", "key=value"),
        ({"endpoints": ["http://a:4317"], "headers": "=v"}, "--otlp-headers", "key=value"),
        (
            {"endpoints": ["http://a:4317"], "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b"},
            "OTEL_EXPORTER_OTLP_HEADERS",
            "key=value",
        ),
        (
            {"flows": ["zipkin"], "OTEL_RESOURCE_ATTRIBUTES": "team"},
            "OTEL_RESOURCE_ATTRIBUTES",
            "key=value",
        ),
        ({"flows": ["zipkin"], "OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, "OTEL_BSP_MAX_QUEUE_SIZE", "positive"),
        (
            {"flows": ["zipkin"], "OTEL_EXPORTER_OTLP_TIMEOUT": "1e3"},
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "milliseconds",
        ),
    ],
)
def test_every_bad_value_is_one_input_error_line(kwargs: dict[str, object], source: str, hint: str) -> None:
    call = {k: kwargs.pop(k) for k in ("endpoints", "protocol", "headers", "flows") if k in kwargs}
    with pytest.raises(InputError) as caught:
        settings(**call, **kwargs)  # type: ignore[arg-type]
    problems = caught.value.problems
    assert len(problems) == 1, problems
    line = str(problems[0])
    assert "\n" not in line
    assert problems[0].source == source
    assert line.startswith(f"{source}: ")
    assert hint in line


def test_problems_from_several_inputs_are_reported_together() -> None:
    with pytest.raises(InputError) as caught:
        settings(["nope"], "carrier-pigeon", flows=["jaeger"])
    assert {p.source for p in caught.value.problems} == {"--otlp-endpoint", "--otlp-protocol", "--flows"}


def test_span_path_defaults_to_fast_and_sdk_is_selectable() -> None:
    chosen = settings(["http://127.0.0.1:4317"])
    assert chosen is not None and chosen.span_path == "fast"
    sdk = TracingSettings.from_options(["http://127.0.0.1:4317"], None, None, [], {}, "sdk")
    assert sdk is not None and sdk.span_path == "sdk"


def test_an_unknown_span_path_is_one_line_naming_the_flag_and_exits_2() -> None:
    from typer.testing import CliRunner

    from nanoservices.cli import app

    with pytest.raises(InputError) as error:
        TracingSettings.from_options([], None, None, [], {}, "quick")
    assert [str(p) for p in error.value.problems] == [str(error.value.problems[0])]
    assert "--span-path" in str(error.value) and "fast or sdk" in str(error.value)
    result = CliRunner().invoke(app, ["run", "lamp", "--span-path", "quick"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        line for line in result.output.strip().splitlines() if "--span-path" in line
    ]
    assert len(result.output.strip().splitlines()) == 1


def test_each_run_has_its_own_run_id_so_a_seed_repeated_sends_new_ids() -> None:
    from nanoservices.tracing.ids import IdSource

    first, second = settings(["http://127.0.0.1:4317"]), settings(["http://127.0.0.1:4317"])
    assert first is not None and second is not None
    assert first.run_id != second.run_id
    same_seed = [IdSource(7, "host-0", s.run_id) for s in (first, second)]
    assert same_seed[0].span_id() != same_seed[1].span_id()
    assert same_seed[0].traces_of("www").next() != same_seed[1].traces_of("www").next()
    again = IdSource(7, "host-0", first.run_id)
    assert again.traces_of("www").next() == IdSource(7, "host-0", first.run_id).traces_of("www").next()
