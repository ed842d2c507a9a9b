"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Monolith(Behaviour):
    packages = ('monolith',)
    cross_zone = True
