"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Pirate(Behaviour):
    packages = ('pirate',)
    cross_zone = True
