"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Staash(Behaviour):
    packages = ('staash',)
    cross_zone = True
