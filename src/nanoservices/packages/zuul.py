"""zuul, the API proxy: zone-local, it only talks to instances in its own zone."""

from __future__ import annotations

from nanoservices.packages.forwarding import Forwarder


class Zuul(Forwarder):
    packages = ("zuul",)
    cross_zone = False
