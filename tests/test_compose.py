"""import-compose: compose files (v1, v2, v3, spec) become architectures that validate, expand and route."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from nanoservices.architecture import load_architecture, parse_architecture
from nanoservices.cli import app
from nanoservices.compose import convert_compose, guess_package, load_compose, to_json
from nanoservices.config import RunConfig
from nanoservices.discovery_rules import expected_edges
from nanoservices.plan import expand
from nanoservices.problems import InputError
from nanoservices.runtime.local import LocalRun
from nanoservices.runtime.stats import add_stats

DATA = Path(__file__).parent / "data" / "compose"
FILES = sorted(DATA.glob("*.yml"))
runner = CliRunner()


def services(document: dict) -> list[tuple[str, str, int, int, list[str]]]:
    return [
        (s["name"], s["package"], s["count"], s["regions"], s["dependencies"]) for s in document["services"]
    ]


def problems(text: str, source: str = "c.yml") -> list[str]:
    with pytest.raises(InputError) as caught:
        convert_compose(text, source, "c")
    return [str(p) for p in caught.value.problems]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_v1_links_with_aliases_become_dependencies() -> None:
    document = load_compose(DATA / "wordpress-v1.yml")
    assert document["arch"] == "wordpress-v1"
    assert services(document) == [
        ("proxy", "elb", 1, 1, ["wordpress"]),
        ("wordpress", "monolith", 1, 1, ["db", "cache"]),
        ("db", "store", 1, 1, []),
        ("cache", "store", 1, 1, []),
        ("www", "denominator", 0, 0, ["proxy"]),
    ]


def test_v3_depends_on_and_replicas() -> None:
    document = load_compose(DATA / "voting-v3.yml")
    # visualizer is operators' tooling, left out; the worker publishes no port: no traffic of its own.
    assert services(document) == [
        ("redis", "store", 1, 1, []),
        ("db", "store", 1, 1, []),
        ("vote", "monolith", 2, 1, ["redis"]),
        ("result", "monolith", 1, 1, ["db"]),
        ("worker", "monolith", 1, 1, ["db", "redis"]),
        ("www", "denominator", 0, 0, ["vote", "result"]),
    ]
    assert [s.get("container") for s in document["services"]][:2] == ["redis:5.0-alpine", "postgres:9.6"]


def test_v2_scale_depends_on_conditions_and_builds() -> None:
    document = load_compose(DATA / "shop-v2.yml")
    assert services(document) == [
        ("edge", "elb", 1, 1, ["front-end"]),
        ("front-end", "monolith", 2, 1, ["catalogue", "carts", "orders", "session-cache"]),
        ("catalogue", "monolith", 3, 1, ["catalogue-db"]),
        ("catalogue-db", "store", 1, 1, []),
        ("carts", "monolith", 2, 1, ["carts-db"]),
        ("carts-db", "store", 1, 1, []),
        ("orders", "monolith", 1, 1, ["orders-db", "rabbitmq", "carts"]),
        ("orders-db", "store", 1, 1, []),
        ("rabbitmq", "store", 1, 1, []),
        ("queue-master", "monolith", 1, 1, ["rabbitmq"]),
        ("session-cache", "store", 1, 1, []),
        ("www", "denominator", 0, 0, ["edge"]),  # the one service that publishes a port
    ]
    containers = {s["name"]: s.get("container") for s in document["services"]}
    assert (containers["front-end"], containers["catalogue"]) == ("./front-end", "./catalogue")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize(("scale", "regions"), [(100, 1), (100, 2), (300, 1)])
def test_every_caller_instance_discovers_every_dependency(path: Path, scale: int, regions: int) -> None:
    """The output is a valid file whose plan leaves no forwarding instance without a route."""
    document = load_compose(path)
    architecture = parse_architecture(to_json(document), str(path), path.stem)
    plan = expand(architecture, scale, regions)
    assert len(plan.instances) == sum(
        1 if s.regions == 0 else regions * s.regions * max(1, s.count * scale // 100)
        for s in architecture.services
    )
    service_of = {spec.node: spec.service for spec in plan.instances}
    reached: dict[str, set[str]] = {}
    for source, target in expected_edges(plan):
        reached.setdefault(source, set()).add(service_of[target])
    callers = [spec for spec in plan.instances if spec.dependencies]
    assert callers
    for spec in callers:
        assert reached.get(spec.node, set()) == set(spec.dependencies), spec.node


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_converted_files_answer_every_request_in_process(path: Path) -> None:
    """The in-process runtime (no Ray): the denominator's requests all come back as successes."""
    plan = expand(parse_architecture(to_json(load_compose(path)), str(path), path.stem))
    (source,) = [spec.name for spec in plan.instances if spec.package == "denominator"]

    async def scenario() -> tuple[dict[str, object], int, int]:
        run = LocalRun(plan, RunConfig(arch=plan.arch, instances_per_host=1, request_timeout=5.0))
        await run.start()
        for _ in range(90):
            run.instance(source).behaviour.tick()  # type: ignore[attr-defined]
            await run.settle()
        stats: dict[str, object] = {}
        for host in run.hosts:
            add_stats(stats, host.counts())
        puts = run.instance(source).behaviour._next_key - 1  # type: ignore[attr-defined]
        stores = [run.instance(s.name).behaviour for s in plan.instances if s.package == "store"]
        written = sum(len(store.data) - 1 for store in stores)  # type: ignore[attr-defined]
        return stats, puts, written

    stats, puts, written = asyncio.run(scenario())
    assert (stats["requests_issued"], stats["requests_completed"]) == (90, 90)
    assert not stats["requests_failed"]
    # Every path of these files ends in a store, so each PUT sent is one new key in exactly one store.
    assert puts > 0
    assert written == puts


@pytest.mark.parametrize(
    ("image", "package"),
    [
        ("postgres:9.4", "store"),
        ("bitnami/postgresql:15", "store"),
        ("docker.elastic.co/elasticsearch/elasticsearch:8.11.1", "store"),
        ("mcr.microsoft.com/mssql/server:2022-latest", "store"),
        ("localhost:5000/redis", "store"),
        ("confluentinc/cp-kafka:7.5.0", "store"),
        ("mongo-express:1.0", "monolith"),
        ("traefik:v2.10", "elb"),
        ("jwilder/nginx-proxy", "elb"),
        ("registry.example.com:5000/team/haproxy:2.8", "elb"),
        ("envoyproxy/envoy:v1.28-latest", "elb"),
        ("myorg/api@sha256:0123abcd", "monolith"),
        ("wordpress", "monolith"),
    ],
)
def test_guess_package_reads_the_image_name(image: str, package: str) -> None:
    assert guess_package(image) == package


def test_a_build_is_an_application_even_with_a_database_image_name() -> None:
    text = (
        "services:\n  db:\n    build: ./db\n    image: postgres:16\n  app:\n    image: app\n    links: [db]\n"
    )
    assert services(convert_compose(text, "c.yml", "c"))[0] == ("db", "monolith", 1, 1, [])


def test_compose_spec_without_version_and_repeated_dependencies() -> None:
    text = (
        "services:\n"
        "  web:\n    image: nginx\n    links: ['api:backend', api]\n    depends_on: [api]\n"
        "  api:\n    image: example/api\n    deploy: {replicas: 4}\n    scale: 2\n"
    )
    assert services(convert_compose(text, "c.yml", "c")) == [
        ("web", "elb", 1, 1, ["api"]),
        ("api", "monolith", 4, 1, []),
        ("www", "denominator", 0, 0, ["web"]),
    ]


def test_independent_services_all_get_traffic_and_the_denominator_name_is_free() -> None:
    text = "version: '3'\nservices:\n  www:\n    image: httpd\n  www-1:\n    image: example/site\n"
    assert services(convert_compose(text, "c.yml", "c"))[-1] == (
        "www-2",
        "denominator",
        0,
        0,
        ["www", "www-1"],
    )


BAD = [
    ("", ["c.yml: empty file; a compose file is a YAML mapping with 'services'"]),
    (
        "services:\n  web: [\n",
        [
            "c.yml: line 3 column 1: malformed YAML: expected the node content, but found '<stream end>'; "
            "check the indentation and quoting"
        ],
    ),
    ("- web\n- db\n", ["c.yml: $: expected a YAML mapping of services, got a list"]),
    ("just text\n", ['c.yml: $: expected a YAML mapping of services, got the string "just text"']),
    ("version: '3'\n", ["c.yml: $.services: version 3 file without 'services'; add a 'services' mapping"]),
    (
        "version: '3'\nservices: [web]\n",
        ["c.yml: $.services: expected a mapping of service names to definitions, got a list"],
    ),
    (
        "version: '2'\nservices:\n  web:\n    image: app\n    links: [db]\n",
        [
            "c.yml: $.services.web.links[0]: unknown service 'db'; define it under 'services' or remove "
            "this dependency"
        ],
    ),
    (
        "web:\n  image: app\n  links: ['db:database']\n",
        [
            "c.yml: $.web.links[0]: unknown service 'db'; define it under the top level "
            "or remove this dependency"
        ],
    ),
    (
        "services:\n  web:\n    image: app\n    depends_on:\n      db: {condition: service_healthy}\n",
        [
            "c.yml: $.services.web.depends_on.db: unknown service 'db'; define it under 'services' or remove "
            "this dependency"
        ],
    ),
    (
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    depends_on: [a]\n",
        ["c.yml: $.services.b: circular dependency a -> b -> a; remove 'b''s link or depends_on on 'a'"],
    ),
    (
        "services:\n  a:\n    image: x\n    depends_on: [a]\n",
        ["c.yml: $.services.a: circular dependency a -> a; remove 'a''s link or depends_on on 'a'"],
    ),
    (
        "services:\n  web:\n    image: app\n    deploy:\n      replicas: two\n",
        [
            "c.yml: $.services.web.deploy.replicas: expected a whole number of instances, "
            'got "two"; write e.g. 3'
        ],
    ),
    (
        "services:\n  web:\n    image: app\n    scale: true\n",
        ["c.yml: $.services.web.scale: expected a whole number of instances, got true; write e.g. 3"],
    ),
    (
        "services:\n  web:\n    image: app\n    deploy: {replicas: 0}\n",
        [
            "c.yml: $.services.web.deploy.replicas: needs at least 1 instance to simulate, got 0; "
            "raise it or remove the service"
        ],
    ),
    (
        "services:\n  api.v1:\n    image: app\n",
        [
            "c.yml: $.services[\"api.v1\"]: service name 'api.v1' has a dot "
            "(instance names are dot-separated); rename it, e.g. to 'api-v1'"
        ],
    ),
    (
        "services:\n  eureka:\n    image: springcloud/eureka\n",
        [
            "c.yml: $.services.eureka: service name 'eureka' is reserved (the format's cross-region marker); "
            "rename it, e.g. to 'eureka-server'"
        ],
    ),
    (
        "services:\n  web:\n",
        ["c.yml: $.services.web: expected a mapping (image, build, depends_on, ...), got nothing (null)"],
    ),
    (
        "services:\n  web:\n    ports: ['80:80']\n",
        ["c.yml: $.services.web: neither 'image' nor 'build'; add one of them"],
    ),
    (
        "services:\n  web:\n    image: app\n    links: db\n",
        ['c.yml: $.services.web.links: expected a list of service names, got the string "db"'],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_files_give_one_line_per_problem(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        "version: '3.8'\n"
        "services:\n"
        "  web:\n    image: nginx\n    depends_on: [api, ghost]\n    deploy: {replicas: 2.5}\n"
        "  api:\n    image: 7\n    depends_on:\n      db: {condition: service_healthy}\n"
        "  worker:\n    build: .\n    links: [api, 3]\n"
    )
    assert problems(text) == [
        "c.yml: $.services.web.deploy.replicas: expected a whole number of instances, got 2.5; write e.g. 3",
        "c.yml: $.services.api.image: expected an image name, got the number 7",
        'c.yml: $.services.worker.links[1]: expected "service" or "service:alias", got 3',
        "c.yml: $.services.web.depends_on[1]: unknown service 'ghost'; define it under 'services' or remove "
        "this dependency",
        "c.yml: $.services.api.depends_on.db: unknown service 'db'; define it under 'services' or remove "
        "this dependency",
    ]


def test_cli_writes_the_architecture_to_stdout() -> None:
    path = DATA / "voting-v3.yml"
    result = invoke("import-compose", str(path), "--name", "voting")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"{path}: $.services.visualizer: observability (image dockersamples/visualizer:stable): "
        "left out of the request graph",
        f"{path}: $.services.vote: www (the traffic source) calls vote: publishes a port",
        f"{path}: $.services.result: www (the traffic source) calls result: publishes a port",
    ]
    document = json.loads(result.stdout)
    assert document == {**load_compose(path), "arch": "voting"}
    assert parse_architecture(result.stdout, "stdout", "voting").services[-1].package == "denominator"


def test_cli_writes_a_file_that_loads_as_an_architecture(tmp_path: Path) -> None:
    out = tmp_path / "shop_arch.json"
    source = str(DATA / "shop-v2.yml")
    result = invoke("import-compose", source, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    edge = f"{source}: $.services.edge: www (the traffic source) calls edge: publishes a port"
    assert (result.stdout, result.stderr) == ("", f"{edge}\n{source}: wrote {out}\n")
    architecture = load_architecture(out)
    assert (architecture.name, architecture.arch, len(architecture.services)) == ("shop", "shop-v2", 12)
    assert invoke("validate", str(out)).exit_code == 0


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_cli_refuses_bad_files_with_exit_2_and_no_traceback(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    result = invoke("import-compose", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [line.replace("c.yml", str(path), 1) for line in expected]
    assert "Traceback" not in result.stderr


def test_cli_refuses_missing_unreadable_and_unwritable_paths(tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.yml"
    result = invoke("import-compose", str(missing))
    assert (result.exit_code, result.stderr) == (
        2,
        f"{missing}: no such file; give the path of a docker-compose file\n",
    )
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"services:\n  \xff\xfe: {}\n")
    result = invoke("import-compose", str(binary))
    assert (result.exit_code, result.stderr) == (
        2,
        f"{binary}: not UTF-8 text (byte 12); a compose file is YAML text\n",
    )
    out = tmp_path / "no-such-dir" / "x_arch.json"
    result = invoke("import-compose", str(DATA / "wordpress-v1.yml"), "-o", str(out))
    expected = f"{out}: cannot write: No such file or directory; choose another -o\n"
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected)


# --- real systems: references in environment and commands, observability, load generators -------


def converted(stem: str) -> tuple[list[tuple[str, str, int, int, list[str]]], list[str]]:
    notes: list[str] = []
    path = DATA / f"{stem}.yml"
    document = load_compose(path, notes=notes)
    return services(document), [note.replace(f"{path}: ", "", 1) for note in notes]


def test_sock_shop_style_edges_come_from_environment_and_commands_and_user_sim_drives_traffic() -> None:
    found, notes = converted("sockshop-env")
    assert found == [
        ("edge-router", "elb", 1, 1, ["front-end"]),
        ("front-end", "monolith", 1, 1, ["catalogue", "carts", "orders", "user"]),
        ("catalogue", "monolith", 1, 1, ["catalogue-db"]),
        ("catalogue-db", "store", 1, 1, []),
        ("carts", "monolith", 1, 1, ["carts-db"]),
        ("carts-db", "store", 1, 1, []),
        ("orders", "monolith", 1, 1, ["orders-db", "shipping"]),
        ("orders-db", "store", 1, 1, []),
        ("shipping", "monolith", 1, 1, ["rabbitmq"]),
        ("queue-master", "monolith", 1, 1, ["rabbitmq"]),
        ("rabbitmq", "store", 1, 1, []),
        ("user", "monolith", 1, 1, ["user-db"]),
        ("user-db", "store", 1, 1, []),
        ("user-sim", "denominator", 0, 0, ["edge-router"]),  # the load generator, not a monolith
    ]
    assert (
        "$.services.user.environment.MONGO_HOST: user calls user-db (read from 'MONGO_HOST=user-db:27017')"
        in notes
    )
    assert "$.services.carts.command: carts calls carts-db (read from '--db-host=carts-db')" in notes
    assert notes[-2:] == [
        "$.services.user-sim.command: user-sim calls edge-router (read from '-h edge-router')",
        "$.services.user-sim: load generator (image weaveworksdemos/load-test:0.1.1): the traffic source, "
        "calling edge-router",
    ]


def test_without_depends_on_the_addr_variables_give_the_graph_and_www_calls_the_front_door() -> None:
    found, notes = converted("nodeps-addr")
    assert found == [
        ("frontend", "monolith", 1, 1, ["productcatalogservice", "cartservice", "checkoutservice"]),
        ("productcatalogservice", "monolith", 1, 1, ["catalog-db"]),
        ("cartservice", "monolith", 1, 1, ["redis-cart"]),
        ("checkoutservice", "monolith", 1, 1, ["cartservice", "productcatalogservice"]),
        ("redis-cart", "store", 1, 1, []),
        ("catalog-db", "store", 1, 1, []),  # publishes a port, but a database is no front door
        ("www", "denominator", 0, 0, ["frontend"]),
    ]
    assert len(notes) == 8
    assert notes[-1] == "$.services.frontend: www (the traffic source) calls frontend: publishes a port"


def test_tracing_and_metrics_services_are_left_out_of_the_request_graph_and_said_so() -> None:
    found, notes = converted("traced-otel")
    assert found == [
        ("api", "monolith", 1, 1, ["orders"]),
        ("orders", "monolith", 1, 1, ["orders-db"]),
        ("orders-db", "store", 1, 1, []),
        ("www", "denominator", 0, 0, ["api"]),
    ]
    assert notes == [
        "$.services.jaeger: observability (image jaegertracing/all-in-one:1.52): "
        "left out of the request graph",
        "$.services.otel-collector: observability (image otel/opentelemetry-collector-contrib:0.91.0): "
        "left out of the request graph",
        "$.services.prometheus: observability (image prom/prometheus:v2.48.0): left out of the request graph",
        "$.services.grafana: observability (image grafana/grafana:10.2.2): left out of the request graph",
        "$.services.api.environment.ORDERS_URL: api calls orders (read from 'ORDERS_URL=http://orders:8081/orders')",
        "$.services.api: www (the traffic source) calls api: publishes a port",
    ]


def test_a_locust_service_is_the_traffic_source_pointed_at_what_it_targets() -> None:
    found, notes = converted("locust-loadgen")
    assert found == [
        ("web", "elb", 1, 1, ["app"]),
        ("app", "monolith", 1, 1, ["cache", "db"]),
        ("cache", "store", 1, 1, []),
        ("db", "store", 1, 1, []),
        ("loadgenerator", "denominator", 0, 0, ["web"]),
    ]
    assert notes[-1] == (
        "$.services.loadgenerator: load generator (image locustio/locust:2.20.0): "
        "the traffic source, calling web"
    )


def test_a_locust_without_a_target_calls_the_front_door_and_inferred_cycles_are_not_added() -> None:
    text = (
        "services:\n"
        "  web:\n    image: example/web\n    ports: ['80:80']\n    environment: {API_URL: 'http://api:8080'}\n"
        "  api:\n    image: example/api\n    environment: {WEB_HOST: web, DB_HOST: 'db:5432'}\n"
        "  db:\n    image: postgres\n"
        "  locust:\n    image: example/locust-runner\n"
    )
    notes: list[str] = []
    assert services(convert_compose(text, "c.yml", "c", notes)) == [
        ("web", "monolith", 1, 1, ["api"]),
        ("api", "monolith", 1, 1, ["db"]),
        ("db", "store", 1, 1, []),
        ("locust", "denominator", 0, 0, ["web"]),
    ]
    assert (
        "c.yml: $.services.api.environment.WEB_HOST: api -> web from 'WEB_HOST=web' not added: "
        "it would close a cycle" in notes
    )


def test_a_file_of_only_observability_services_is_refused() -> None:
    assert problems(
        "services:\n  jaeger:\n    image: jaegertracing/all-in-one\n  grafana:\n    image: grafana/grafana\n"
    ) == [
        "c.yml: $.services: every service (grafana, jaeger) is observability tooling, left out of requests; "
        "nothing to simulate"
    ]


def test_a_billion_replicas_is_refused_naming_the_compose_field() -> None:
    assert problems("services:\n  web:\n    image: app\n    deploy: {replicas: 1000000000}\n") == [
        "c.yml: $.services.web.deploy.replicas: 1,000,000,000 instances is more than the 10,000 a service "
        "may have; lower it"
    ]


@pytest.mark.parametrize("name", ["x.yml.json", "shop.v2_arch.json", ".json"])
def test_cli_refuses_an_output_name_validate_would_refuse(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    result = invoke("import-compose", str(DATA / "voting-v3.yml"), "-o", str(out))
    assert result.exit_code == 2 and not out.exists()
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{out}: the file name gives the architecture name ")
    suggested = Path(line.rsplit("use e.g. -o ", 1)[1])
    assert invoke("import-compose", str(DATA / "voting-v3.yml"), "-o", str(suggested)).exit_code == 0
    assert invoke("validate", str(suggested)).exit_code == 0


def test_a_compose_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    from nanoservices.problems import MAX_INPUT_BYTES

    path = tmp_path / "big.yml"
    with path.open("wb") as out:
        out.truncate(MAX_INPUT_BYTES + 1)
    result = invoke("import-compose", str(path))
    assert (result.exit_code, result.stderr) == (
        2,
        f"{path}: 10,485,761 bytes is more than the 10 MiB an input file may have; "
        "trim the file or split it\n",
    )
