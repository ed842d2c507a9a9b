"""elb, the regional load balancer: accepts instances from every zone of its region."""

from __future__ import annotations

from nanoservices.packages.forwarding import Forwarder


class Elb(Forwarder):
    packages = ("elb",)
    cross_zone = True
