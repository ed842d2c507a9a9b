"""The package registry: every known name maps to a behaviour class, and names are unique."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nanoservices.packages import Behaviour, behaviour_for, known_packages
from nanoservices.packages.denominator import Denominator
from nanoservices.packages.elb import Elb
from nanoservices.packages.karyon import Karyon
from nanoservices.packages.monolith import Monolith
from nanoservices.packages.pirate import Pirate
from nanoservices.packages.priam_cassandra import PriamCassandra, Riak
from nanoservices.packages.staash import Staash
from nanoservices.packages.store import Store
from nanoservices.packages.zuul import Zuul

EXPECTED = {
    "denominator": Denominator,
    "elb": Elb,
    "zuul": Zuul,
    "karyon": Karyon,
    "monolith": Monolith,
    "staash": Staash,
    "priamCassandra": PriamCassandra,
    "riak": Riak,  # priamCassandra without a ring
    "store": Store,
    "cache": Store,
    "volume": Store,
    "pirate": Pirate,
}


def test_every_known_package_maps_to_its_class() -> None:
    assert known_packages() == frozenset(EXPECTED)
    for name in known_packages():
        cls = behaviour_for(name)
        assert issubclass(cls, Behaviour)
        assert name in cls.packages
        assert cls is EXPECTED[name]


def test_zone_filter_and_traffic_flags() -> None:
    local = {name for name in known_packages() if not behaviour_for(name).cross_zone}
    assert local == {"zuul", "karyon"}
    sources = {name for name in known_packages() if behaviour_for(name).generates_traffic}
    # pirates start their own chatter (fsm), so shutdown stops their tickers first, as a denominator's
    assert sources == {"denominator", "pirate"}


def test_capabilities_replace_package_names() -> None:
    """Each capability holds for exactly the packages whose names the code used to test."""
    from nanoservices.packages import capabilities as can

    def having(test: Callable[[str], bool]) -> set[str]:
        return {name for name in known_packages() if test(name)}

    assert having(can.rate_source) == {"denominator"}  # split into workers, counted in the asked rate
    assert having(can.keeps_ring) == {"priamCassandra"}  # riak shares the class but never had a ring
    assert having(lambda name: behaviour_for(name).fsm_controlled) == {"pirate"}
    assert having(can.stateful) == {"priamCassandra", "riak", "store", "cache", "volume"}
    not_deployable = known_packages() - set(can.deployable_packages())
    assert not_deployable == {"priamCassandra", "riak", "store", "cache", "volume", "denominator", "pirate"}


def test_capability_lookups_over_a_plan() -> None:
    from nanoservices.builtin import fsm_plan, migration_plan
    from nanoservices.packages.capabilities import pirates, traffic_sources

    fsm = fsm_plan(5)
    assert pirates(fsm) == [s.name for s in fsm.instances] and len(pirates(fsm)) == 5
    assert traffic_sources(fsm) == []
    lamp = migration_plan(1, 100, 1)
    assert traffic_sources(lamp) == [s.name for s in lamp.instances if s.service == "www"] != []
    assert pirates(lamp) == []


def test_duplicate_registration_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="registered twice"):

        class AnotherElb(Behaviour):
            packages = ("elb",)

    assert behaviour_for("elb") is Elb


def test_every_module_registers_exactly_the_names_mapped_to_it() -> None:
    """behaviour_for imports modules by PACKAGE_MODULES: a class registering a name the map does not
    point at its module would never be loaded."""
    import importlib
    import pkgutil

    import nanoservices.packages
    from nanoservices.packages.base import _REGISTRY, PACKAGE_MODULES

    for module in pkgutil.iter_modules(nanoservices.packages.__path__):
        importlib.import_module(f"nanoservices.packages.{module.name}")
    assert set(_REGISTRY) == set(PACKAGE_MODULES)
    for name, cls in _REGISTRY.items():
        assert cls.__module__ == f"nanoservices.packages.{PACKAGE_MODULES[name]}"
