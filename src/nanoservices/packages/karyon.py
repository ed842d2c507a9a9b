"""karyon, the business-logic microservice: zone-local, like zuul."""

from __future__ import annotations

from nanoservices.packages.forwarding import Forwarder


class Karyon(Forwarder):
    packages = ("karyon",)
    cross_zone = False
