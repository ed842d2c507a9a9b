"""monolith, the LAMP-style application: karyon's behaviour, but cross-zone."""

from __future__ import annotations

from nanoservices.packages.forwarding import Forwarder


class Monolith(Forwarder):
    packages = ("monolith",)
    cross_zone = True
