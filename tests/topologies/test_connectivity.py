"""B-connectivity: every window of B rounds, united, must be (strongly) connected."""

from __future__ import annotations

import networkx as nx
import pytest

import topologies


def without(node: int, n: int, shift: int = 0) -> nx.Graph:
    """A ring through every node but ``node`` (rotated by ``shift``); ``node`` stays isolated."""
    others = [v for v in range(n) if v != node]
    others = others[shift % len(others) :] + others[: shift % len(others)]
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    nx.add_cycle(graph, others)
    return graph


def test_random_matching_is_b_connected_for_a_long_enough_window() -> None:
    s = topologies.get("random_matching", 8, seed=0)
    topologies.check_b_connected(s, window=8)
    assert topologies.is_b_connected(s, 8)
    with pytest.raises(topologies.TopologyError, match=r"is not 1-connected: in rounds 0\.\.0"):
        topologies.check_b_connected(s, window=1)
    assert not topologies.is_b_connected(s, 1)
    B = topologies.smallest_window(s)
    assert B is not None and 1 < B <= 8


def test_smallest_window_of_one_peer_exponential() -> None:
    assert topologies.smallest_window(topologies.get("one_peer_exponential", 16)) == 4
    assert topologies.smallest_window(topologies.get("one_peer_exponential", 8)) == 3


def test_static_connected_graph_has_window_one() -> None:
    assert topologies.smallest_window(topologies.get("ring", 10)) == 1
    assert topologies.smallest_window(topologies.get("exponential", 10)) == 1


def test_cycle_that_isolates_a_node_names_it() -> None:
    s = topologies.Cycle([without(3, 8, shift) for shift in range(3)])
    with pytest.raises(topologies.TopologyError, match="node 3") as info:
        topologies.check_b_connected(s, window=3)
    assert "\n" not in str(info.value)
    assert topologies.smallest_window(s, max_window=10) is None


def test_callable_that_never_links_a_node_names_it() -> None:
    s = topologies.FromCallable(lambda t: without(5, 8, t), n=8, name="leaves_out_5")
    with pytest.raises(topologies.TopologyError) as info:
        topologies.check_b_connected(s, window=4)
    message = str(info.value)
    assert "node 5" in message and "leaves_out_5" in message and "\n" not in message


def test_directed_window_needs_strong_connectivity() -> None:
    one_way = nx.DiGraph([(0, 1), (1, 2), (2, 3)])
    back = nx.DiGraph([(3, 0)])
    back.add_nodes_from(range(4))
    s = topologies.Cycle([one_way, back], weights="column_stochastic")
    assert s.directed
    assert topologies.smallest_window(s) == 2
    with pytest.raises(topologies.TopologyError, match="cannot reach or be reached"):
        topologies.check_b_connected(s, window=1)


def test_window_must_be_positive() -> None:
    with pytest.raises(topologies.TopologyError, match="window B=0 must be >= 1"):
        topologies.check_b_connected(topologies.get("ring", 4), window=0)


def test_horizon_limits_the_rounds_checked() -> None:
    def late_split(t: int) -> nx.Graph:
        return without(2, 6) if t >= 10 else nx.cycle_graph(6)

    s = topologies.FromCallable(late_split, n=6)
    topologies.check_b_connected(s, window=1, horizon=10)
    with pytest.raises(topologies.TopologyError, match=r"rounds 10\.\.10 node 2"):
        topologies.check_b_connected(s, window=1, horizon=11)


def test_check_connected_names_the_cut_off_nodes() -> None:
    two = nx.disjoint_union(nx.cycle_graph(5), nx.path_graph(3))
    with pytest.raises(topologies.TopologyError, match=r"2 components; nodes \{5, 6, 7\}"):
        topologies.check_connected(two)
    assert topologies.is_connected(nx.cycle_graph(3))
    assert not topologies.is_connected(nx.Graph())
