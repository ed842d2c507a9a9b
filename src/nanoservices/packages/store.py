"""Placeholder: behaviour to be written (packages issue work in progress)."""

from nanoservices.packages.base import Behaviour


class Store(Behaviour):
    packages = ('store', 'cache', 'volume')
    cross_zone = True
