"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Zuul(Behaviour):
    packages = ('zuul',)
    cross_zone = False
