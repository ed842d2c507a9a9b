"""spigo's nine-field instance names and the short names its graph files use."""

from __future__ import annotations

# arch.region.zone.machine.instance.container.process.service.package
ARCH, REGION, ZONE, MACHINE, INSTANCE, CONTAINER, PROCESS, SERVICE, PACKAGE = range(9)


def instance_label(service: str, index: int) -> str:
    """`homepage` and 3 give `homepage03`; indexes past 99 simply grow (`homepage100`)."""
    return f"{service}{index:02d}"


def full_name(arch: str, region: str, zone: str, instance: str, service: str, package: str) -> str:
    """The nine-field name; machine, container and process stay empty, as in spigo's runs."""
    return f"{arch}.{region}.{zone}..{instance}...{service}.{package}"


def node_name(arch: str, region: str, zone: str, instance: str) -> str:
    """The graph name spigo writes by default: `arch.region.zone.instance`."""
    return f"{arch}.{region}.{zone}.{instance}"


def field(name: str, which: int) -> str:
    parts = name.split(".")
    return parts[which] if which < len(parts) else ""


def to_node_name(name: str) -> str:
    parts = name.split(".")
    return node_name(parts[ARCH], parts[REGION], parts[ZONE], parts[INSTANCE])
