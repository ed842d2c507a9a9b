"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Denominator(Behaviour):
    packages = ('denominator',)
    cross_zone = True
