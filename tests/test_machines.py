"""What a zone's loss takes down in cluster mode, decided without Ray: which nodes are removed,
which are spared (head, supervisor), which hosts die, and when a process counts as the raylet."""

from __future__ import annotations

import pytest

from nanoservices.runtime.machines import (
    HEAD_RESOURCE,
    MachineLoss,
    describe,
    hosts_lost,
    machine_loss,
    protected_nodes,
    raylet_refusal,
    stat_parent,
)

# hosts 0, 1 in zone B on node "b"; 2 in zone A on "a"; 3 cross-zone on "b"; 4 global on "head"
NODE_OF = {0: "b", 1: "b", 2: "a", 3: "b", 4: "head"}


def test_the_zones_node_goes_with_every_host_on_it() -> None:
    loss = machine_loss([0, 1], NODE_OF, NODE_OF, {"head"})
    assert loss == MachineLoss(removed=("b",), spared=(), hosts=(0, 1, 3))


def test_a_protected_node_is_spared_and_only_the_zones_hosts_there_die() -> None:
    loss = machine_loss([4], NODE_OF, NODE_OF, {"head"})
    assert loss == MachineLoss(removed=(), spared=("head",), hosts=(4,))


def test_a_host_of_unknown_node_dies_alone_and_removes_nothing() -> None:
    loss = machine_loss([7], {**NODE_OF, 7: ""}, [*NODE_OF, 7], {"head"})
    assert loss == MachineLoss(removed=(), spared=(), hosts=(7,))


def test_only_running_hosts_of_a_removed_node_are_counted_lost() -> None:
    running = [0, 1, 2, 4]  # 3 already gone (a monkey's kill)
    assert machine_loss([0], NODE_OF, running, set()).hosts == (0, 1)


def test_a_region_loses_every_node_of_its_hosts() -> None:
    loss = machine_loss([0, 2], NODE_OF, NODE_OF, {"head"})
    assert (loss.removed, loss.hosts) == (("a", "b"), (0, 1, 2, 3))


def test_the_head_and_the_callers_node_are_protected() -> None:
    nodes = [
        {"NodeID": "h", "Resources": {HEAD_RESOURCE: 1.0, "CPU": 1.0}},
        {"NodeID": "b", "Resources": {"zone:us-east-1b": 1000.0}},
        {"NodeID": "s", "Resources": {"CPU": 1.0}},
        {"NodeID": "x"},  # a dead node's row may carry no resources
    ]
    assert protected_nodes(nodes, own="s") == {"h", "s"}


RAYLET_ARGS = ["/ray/raylet", "--raylet_socket_name=/tmp/s", "--node_id=n1", "--head"]


def test_the_nodes_own_raylet_may_be_killed() -> None:
    assert raylet_refusal("n1", "n1", "raylet", RAYLET_ARGS) is None


@pytest.mark.parametrize(
    ("here", "comm", "args", "why"),
    [
        ("n2", "raylet", RAYLET_ARGS, "running on node n2, not n1"),
        ("n1", "process_api", RAYLET_ARGS, "the parent process is 'process_api', not a raylet"),
        ("n1", "raylet", ["/ray/raylet", "--node_id=n10"], "the parent raylet belongs to another node"),
    ],
)
def test_anything_else_is_refused(here: str, comm: str, args: list[str], why: str) -> None:
    assert raylet_refusal("n1", here, comm, args) == why


def test_the_parent_pid_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    assert stat_parent("4242 (ray::Host) x) S 4100 4242 4100 0 -1") == 4100


SUFFIX = " (cluster mode: no freeze, counts die with the hosts)"


def test_the_method_names_the_removed_node() -> None:
    loss = MachineLoss(("b",), (), (0, 1))
    assert describe(loss, {"b": None}) == "raylet of node b killed, every process on it with it" + SUFFIX


def test_the_method_says_which_nodes_stayed_and_why() -> None:
    loss = MachineLoss(("a", "b"), ("head",), (0, 1, 2, 4))
    assert describe(loss, {"a": None, "b": "no answer from the killer within 15 s"}) == (
        "raylet of node a killed, every process on it with it; "
        "node b not removed (no answer from the killer within 15 s); "
        "node head runs the head or the supervisor, not removed; "
        "ray.kill of the zone's host actors there" + SUFFIX
    )


def test_when_a_removal_fails_only_the_zones_hosts_on_that_node_die() -> None:
    assert hosts_lost([0, 1], NODE_OF, NODE_OF, removed=()) == (0, 1)
    assert hosts_lost([0, 1], NODE_OF, NODE_OF, removed=("b",)) == (0, 1, 3)
