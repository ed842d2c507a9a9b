"""spigo's two architectures that are code rather than files: `fsm` (pirates) and `migration`.

fsm has no service tree, so it becomes a DeploymentPlan directly. migration is a LAMP stack that
turns into NetflixOSS over steps 0-9; each step is an ordinary Architecture, so it is expanded and
checked like any file. Numbers and dependencies follow BEHAVIOUR.md sections 13 and 16.
"""

from __future__ import annotations

from dataclasses import replace

from nanoservices.architecture import CROSS_REGION, Architecture, Service
from nanoservices.geography import HOSTS_PER_PREFIX, address, prefix_for
from nanoservices.naming import full_name, instance_label, node_name
from nanoservices.plan import DeploymentPlan, InstanceSpec, expand, memory_limit_instances
from nanoservices.problems import InputError, Problem

FSM = "fsm"
MIGRATION = "migration"
BUILTINS: tuple[str, ...] = (FSM, MIGRATION)

# Pirates live outside the region/zone tables; spigo then uses the first address block.
PIRATE_REGION, PIRATE_ZONE, PIRATE_SERVICE, PIRATE_PACKAGE = "atlantic", "bermuda", "blackbeard", "pirate"
MIN_PIRATES = 2
# /16 blocks pirates may use: spigo's 54.198. and those after it up to 54.255. (3.8 million addresses).
PIRATE_BLOCKS = 256 - 198

MIGRATION_STEPS = range(10)
# Steps that pin the region count whatever --regions says (spigo overrides -w there).
_FORCED_REGIONS = {7: 2, 8: 2, 9: 3}


def describe(name: str) -> str:
    return {
        FSM: "built in: a peer-to-peer network of pirates; --scale is the population (at least 2)",
        MIGRATION: "built in: LAMP to NetflixOSS in steps 0-9 (--step); steps 7-8 use 2 regions, 9 uses 3",
    }[name]


def fsm_plan(population: int, regions: int = 1) -> DeploymentPlan:
    """Pirates blackbeard01..NN, no dependencies or registries; -w is ignored, as in spigo."""
    if population < MIN_PIRATES:
        raise InputError(
            [
                Problem(
                    FSM, "--scale", f"the pirate population must be at least {MIN_PIRATES}, got {population}"
                )
            ]
        )
    limit = min(memory_limit_instances(), PIRATE_BLOCKS * HOSTS_PER_PREFIX)
    if population > limit:
        raise InputError(
            [
                Problem(
                    FSM,
                    "--scale",
                    f"{population:,} pirates is more than the {limit:,} that fit in the pirates' "
                    f"{PIRATE_BLOCKS} address blocks and this machine's memory; lower --scale",
                )
            ]
        )
    # Every field but the label and address is shared: one string object each, not one per pirate.
    region, zone, service, package = PIRATE_REGION, PIRATE_ZONE, PIRATE_SERVICE, PIRATE_PACKAGE
    pirates = []
    for serial in range(1, population + 1):
        label = instance_label(service, serial)
        pirates.append(
            InstanceSpec(
                full_name(FSM, region, zone, label, service, package),
                node_name(FSM, region, zone, label),
                service,
                package,
                region,
                zone,
                pirate_address(serial),
                (),
                False,
            )
        )
    return DeploymentPlan(arch=FSM, scale=population, regions=1, instances=tuple(pirates), registries=())


def pirate_address(serial: int) -> str:
    """The serial-th pirate's address (1-based): spigo's first block (54.198.0.1 up), then the
    next /16 blocks in turn (54.199., 54.200., ...), where spigo would write invalid octets."""
    block, offset = divmod(serial - 1, HOSTS_PER_PREFIX)
    return address(_PIRATE_PREFIXES[block], offset + 1)


def _pirate_prefixes() -> tuple[str, ...]:
    octet, second, _ = prefix_for(PIRATE_REGION, PIRATE_ZONE).split(".")
    return tuple(f"{octet}.{int(second) + block}." for block in range(PIRATE_BLOCKS))


_PIRATE_PREFIXES = _pirate_prefixes()


def migration_architecture(step: int, scale: int) -> Architecture:
    """One migration step, with counts already scaled (expand it at 100 %)."""
    problems = []
    if step not in MIGRATION_STEPS:
        problems.append(Problem(MIGRATION, "--step", f"must be 0 to 9, got {step}"))
    if scale < 1:
        problems.append(Problem(MIGRATION, "--scale", f"must be a percentage of at least 1, got {scale}"))
    if problems:
        raise InputError(problems)
    return Architecture(
        name=MIGRATION,
        arch=MIGRATION,
        description=f"LAMP to NetflixOSS migration, step {step}",
        services=[
            *_migration_services(step, scale),
            _service("www", "denominator", 0, ["www-elb"], regions=0),
        ],
    )


def migration_regions(step: int, regions: int) -> int:
    return _FORCED_REGIONS.get(step, regions)


def migration_plan(step: int, scale: int, regions: int) -> DeploymentPlan:
    """The step's plan; it records the user's scale, which the counts already include."""
    plan = expand(migration_architecture(step, scale), 100, migration_regions(step, regions))
    return replace(plan, scale=scale)


def _service(name: str, package: str, count: int, deps: list[str], regions: int = 1) -> Service:
    return Service(name=name, package=package, count=count, regions=regions, dependencies=deps)


def _migration_services(step: int, p: int) -> list[Service]:
    cass, turtle, php, node, proxy = 12 * p // 100, 6 * p // 100, 9 * p // 100, 9 * p // 100, 9 * p // 100
    cache = "memcache" if step < 3 else "evcache"
    cache_count = 1 if step < 3 else 3
    services: list[Service] = []
    if step >= 5:
        ring_deps = [CROSS_REGION, "cassTurtle"] if step >= 8 else ["cassTurtle"]
        services.append(_service("cassTurtle", "priamCassandra", cass, ring_deps))
    if step <= 5:
        services.append(_service("rds-mysql", "store", 2, ["rds-mysql"]))
    if step >= 1:
        services.append(_service(cache, "store", cache_count, []))
    if step <= 2:
        php_deps = ["rds-mysql"] if step == 0 else ["rds-mysql", cache]
        services.append(_service("php", "monolith", php, php_deps))
        if step == 2:
            services.append(_service("wwwproxy", "zuul", proxy, ["php"]))
        services.append(_service("www-elb", "elb", 0, ["wwwproxy" if step == 2 else "php"]))
        return services
    # From step 3 a staash data layer ("turtle") sits under php, which becomes a karyon service.
    turtle_deps = {
        3: ["rds-mysql", cache],
        4: ["rds-mysql", cache, "cassTurtle"],
        5: ["rds-mysql", cache, "cassTurtle"],
    }
    services.append(_service("turtle", "staash", turtle, turtle_deps.get(step, [cache, "cassTurtle"])))
    services.append(_service("php", "karyon", php, ["turtle"]))
    if step >= 4:
        services.append(_service("node", "karyon", node, ["turtle"]))
    services.append(_service("wwwproxy", "zuul", proxy, ["php", "node"] if step >= 4 else ["php"]))
    services.append(_service("www-elb", "elb", 0, ["wwwproxy"]))
    return services
