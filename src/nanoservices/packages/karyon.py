"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Karyon(Behaviour):
    packages = ('karyon',)
    cross_zone = False
