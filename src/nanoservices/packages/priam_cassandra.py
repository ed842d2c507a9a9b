"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class PriamCassandra(Behaviour):
    packages = ('priamCassandra', 'riak')
    cross_zone = True
