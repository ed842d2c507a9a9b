"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Elb(Behaviour):
    packages = ('elb',)
    cross_zone = True
