"""Regions, zones and the simulated address space: spigo's tables, made valid and extended."""

from __future__ import annotations

ZONES: tuple[str, ...] = ("zoneA", "zoneB", "zoneC")

# spigo's six regions come first, in its order, so its -w 1..6 runs give identical names.
# Beyond them, further real AWS region names let `--regions` go up to 16 instead of panicking.
REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "us-east-2",
    "us-west-1",
    "ca-central-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "sa-east-1",
)

# One /16 prefix per (region, zone), spigo's table for its six regions, with its invalid
# eu-west-1 zoneC prefix "54.288." replaced by the valid and otherwise unused "54.228.".
_SPIGO_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("54.198.", "54.221.", "50.19."),
    ("54.245.", "54.244.", "54.214."),
    ("54.247.", "54.246.", "54.228."),
    ("54.93.", "54.28.", "54.78."),
    ("54.251.", "54.254.", "54.255."),
    ("54.252.", "54.253.", "54.206."),
)


def _prefix_table() -> tuple[tuple[str, ...], ...]:
    rows: list[tuple[str, ...]] = list(_SPIGO_PREFIXES)
    for extra in range(len(REGIONS) - len(_SPIGO_PREFIXES)):
        rows.append(tuple(f"3.{100 + extra * len(ZONES) + z}." for z in range(len(ZONES))))
    return tuple(rows)


IP_PREFIXES: tuple[tuple[str, ...], ...] = _prefix_table()
HOSTS_PER_PREFIX = 65_534  # .0.1 to .255.254 inside one /16

ANY = "*"  # spigo's wildcard for "no zone" (cross-zone) and "no region" (global)


def prefix_for(region: str, zone: str) -> str:
    """The /16 prefix for a location; wildcards fall back to index 0, as spigo does."""
    region_index = REGIONS.index(region) if region in REGIONS else 0
    zone_index = ZONES.index(zone) if zone in ZONES else 0
    return IP_PREFIXES[region_index][zone_index]


def address(prefix: str, serial: int) -> str:
    """The serial-th address (1-based) inside a /16 prefix."""
    return f"{prefix}{serial // 256}.{serial % 256}"
