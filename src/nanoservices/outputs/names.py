"""The short names graph files use, made from full names by spigo's name-filter templates.

A template is aligned with the END of the nine-field name; a field under a `*` is dropped,
any other field under the template is kept, and fields left of the template are always kept.
"""

from __future__ import annotations

from nanoservices.naming import CONTAINER

DEFAULT = "*..*.*.*.*"  # arch.region.zone.instance
REDUCE = "*.*.*.*.."  # arch.region.zone.service.package (spigo -f): instances of a zone collapse
WITH_CONTAINER = "*.*."  # arch.region.zone.machine.instance.container.package


def filter_name(name: str, template: str) -> str:
    """Apply one template; a name shorter than the template is returned unchanged, as spigo does."""
    fields = name.split(".")
    marks = template.split(".")
    if len(marks) > len(fields):
        return name
    head = len(fields) - len(marks)
    kept = fields[:head] + [f for f, mark in zip(fields[head:], marks, strict=True) if mark != "*"]
    return ".".join(kept)


def short_name(name: str, reduce: bool = False) -> str:
    """The graph name spigo writes for a full name (its FilterNode)."""
    if reduce:
        return filter_name(name, REDUCE)
    fields = name.split(".")
    has_container = len(fields) > CONTAINER and fields[CONTAINER] != ""
    return filter_name(name, WITH_CONTAINER if has_container else DEFAULT)
