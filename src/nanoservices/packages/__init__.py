"""One module per simulated spigo package; importing this package registers them all."""

from nanoservices.packages import (  # noqa: F401  (imported for their registration side effect)
    denominator,
    elb,
    karyon,
    monolith,
    pirate,
    priam_cassandra,
    staash,
    store,
    zuul,
)
from nanoservices.packages.base import (
    Behaviour,
    BehaviourSettings,
    InstanceContext,
    Peer,
    behaviour_for,
    known_packages,
)

__all__ = ["Behaviour", "BehaviourSettings", "InstanceContext", "Peer", "behaviour_for", "known_packages"]
