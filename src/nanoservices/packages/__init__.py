"""One module per simulated spigo package. Each registers its behaviour class when imported, and
`behaviour_for` imports a package's module the first time it is asked for, so a host loads only
the behaviours it runs."""

from nanoservices.packages.base import (
    Behaviour,
    BehaviourSettings,
    InstanceContext,
    Peer,
    behaviour_for,
    known_packages,
)

__all__ = ["Behaviour", "BehaviourSettings", "InstanceContext", "Peer", "behaviour_for", "known_packages"]
