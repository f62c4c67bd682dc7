"""Every bad input raises a one-line TopologyError (a ValueError) that names the problem."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

import topologies


def raises(call: Callable[[], Any], *needles: str, wrapped: bool = False) -> str:
    """Run ``call``; check the error is a one-line TopologyError mentioning every needle.

    ``wrapped``: the error replaces a library error, raised ``from None``.
    No error leaks a chained traceback ("During handling of the above exception ...").
    """
    with pytest.raises(topologies.TopologyError) as info:
        call()
    err = info.value
    message = str(err)
    assert isinstance(err, ValueError)
    assert message and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__, repr(err.__context__)
    if wrapped:
        assert err.__suppress_context__ and err.__context__ is not None
    return message


def get(spec: Any, n: int = 8, **kwargs: Any) -> Callable[[], topologies.Schedule]:
    """A deferred ``topologies.get`` for :func:`raises`."""
    return lambda: topologies.get(spec, n, **kwargs)


def test_unknown_name_suggests_the_close_match_and_lists_known_names() -> None:
    message = raises(get("rign"), "unknown topology 'rign'", "did you mean 'ring'?")
    assert all(name in message for name in topologies.names())
    message = raises(get("qqqq_nothing"), "unknown topology 'qqqq_nothing'", "known: complete")
    assert "did you mean" not in message
    raises(get("torrus:rows=2,cols=4"), "did you mean 'torus'?")


@pytest.mark.parametrize(
    ("spec", "n", "needles"),
    [
        ("erdos_renyi:p=1.5", 8, ["erdos_renyi", "p=1.5", "probability"]),
        ("erdos_renyi:p=-0.1", 8, ["p=-0.1", "probability"]),
        ("torus:rows=3,cols=3", 8, ["torus", "3 x 3", "8 agents"]),
        ("grid:rows=3", 8, ["grid", "8 agents"]),
        ("cycle", 8, ["cycle", "missing parameter 'specs'", "write e.g. cycle:specs=ring|star"]),
        ("cycle:specs=", 8, ["cycle", "specs="]),
        ("ring:foo=1", 8, ["ring", "unknown parameter 'foo'"]),
        ("torus:rows=2,cols=4,depth=3", 8, ["unknown parameter 'depth'", "accepted: rows, cols"]),
        ("ring:weights=nope", 8, ["unknown weight rule 'nope'", "metropolis"]),
        ("ring:p", 8, ["'p' is not key=value"]),
        ("ring:weights=lazy,weights=lazy", 8, ["'weights' is given twice"]),
        ("erdos_renyi:p=0.01", 16, ["erdos_renyi", "disconnected", "increase p"]),
        ("hypercube", 6, ["hypercube", "power of 2", "n=6"]),
        ("random_regular:d=3", 7, ["random_regular", "n*d even"]),
        ("random_regular:d=8", 8, ["random_regular", "d < n"]),
        ("small_world:k=9", 8, ["small_world", "k=9"]),
        ("random_geometric:radius=0", 8, ["radius=0"]),
        ("random_geometric:radius=0.01", 8, ["increase radius"]),
        ("link_failure:base=ring,q=2", 8, ["link_failure", "q=2.0"]),
        ("link_failure:base=random_matching", 8, ["base='random_matching'", "static"]),
        (
            "random_matching:base=(link_failure:base=ring)",
            8,
            ["random_matching: base='link_failure:base=ring' must be a static", "base=torus"],
        ),
        (
            "cycle:specs=ring|(link_failure:base=ring,q=0.2)",
            8,
            ["cycle: specs='link_failure:base=ring,q=0.2' must be a static", "specs=ring|star"],
        ),
        ("link_failure:base=(torus:rows=2,cols=4,q=0.2", 8, ["unbalanced '('"]),
        ("link_failure:base=torus),q=0.2", 8, ["unbalanced ')'"]),
        ("cycle:specs=ring|(star", 8, ["unbalanced '('"]),
        ("resampled_erdos_renyi:every=0", 8, ["every=0"]),
        ("", 8, ["empty topology spec"]),
        ("star:weights=best_constant", 8, ["not nonnegative", "w[0,0]"]),
        ("exponential:weights=metropolis", 8, ["weights=metropolis needs an undirected graph"]),
        ("exponential:weights=lazy", 8, ["weights=lazy needs an undirected graph"]),
        ("exponential:weights=max_degree", 8, ["weights=max_degree needs an undirected graph"]),
        ("exponential:weights=best_constant", 8, ["weights=best_constant needs an undirected"]),
        ("ring:weights=attribute", 8, ["edge (0, 1) has no 'weight' attribute"]),
        ("mod.path:not-a-name", 8, ["'not-a-name'", "not a Python name"]),
        ("networkx:cycle_graph:p=3", 8, ["networkx:cycle_graph: unknown parameter 'p'"]),
        ("networkx:cycle_graph:lazy", 8, ["'lazy' is not key=value", "cycle_graph:weights="]),
        ("networkx:cycle_graph:weights=nope", 8, ["unknown weight rule 'nope'"]),
        ("ring", 0, ["number of agents", "0"]),
    ],
)
def test_bad_spec(spec: str, n: int, needles: list[str]) -> None:
    raises(get(spec, n), *needles)


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("erdos_renyi:p=abc", ["erdos_renyi", "p='abc'", "not a valid float"]),
        ("random_regular:d=2.5", ["d='2.5'", "not a valid int"]),
        ("resampled_erdos_renyi:connected=maybe", ["connected='maybe'", "not a valid bool"]),
    ],
)
def test_bad_parameter_value_is_wrapped(spec: str, needles: list[str]) -> None:
    raises(get(spec), *needles, wrapped=True)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, None])
def test_bad_seed(seed: Any) -> None:
    raises(get("random_matching", seed=seed), "seed must be a non-negative integer")


@pytest.mark.parametrize("n", [-3, 2.0, True, "8"])
def test_bad_number_of_agents(n: Any) -> None:
    raises(get("ring", n), "number of agents must be a positive integer")


def test_node_labels_that_are_not_integers_are_numbered_not_refused() -> None:
    graph = nx.relabel_nodes(nx.path_graph(3), {0: "c", 1: "a", 2: "b"})
    schedule = topologies.get(graph, 3)  # issue 8: relabelled in sorted order, mapping kept
    assert schedule.details["node_labels"] == {"a": 0, "b": 1, "c": 2}
    assert sorted(schedule.graph(0).edges()) == [(0, 1), (0, 2)]


def test_node_labels_with_gaps() -> None:
    graph = nx.relabel_nodes(nx.cycle_graph(4), {0: 0, 1: 2, 2: 4, 3: 6})
    raises(get(graph, 4), "0..6 with gaps", "0..3")


def test_node_labels_that_collide() -> None:
    graph = nx.Graph([(1, "1"), ("1", 2)])
    raises(get(graph, 3), "collide")


def test_wrong_number_of_nodes() -> None:
    raises(get(nx.cycle_graph(9), 8), "9 nodes but there are 8 agents")
    raises(get([nx.cycle_graph(8), nx.cycle_graph(7)], 8), "graph 1 of the cycle", "7 nodes")
    raises(get(topologies.get("ring", 9), 8), "9 agents but there are 8")
    schedule = topologies.FromCallable(lambda t: nx.cycle_graph(8 - t), n=8)
    raises(lambda: schedule.graph(1), "round 1", "7 nodes but there are 8 agents")


def test_static_graph_that_is_not_connected() -> None:
    graph = nx.path_graph(7)
    graph.add_node(7)
    raises(get(graph), "the given graph is not connected", "node 7")
    # A list of one graph is the graph itself, so it is checked too.
    raises(get([graph]), "the given graph is not connected", "node 7")
    raises(get(lambda: [graph]), "not connected", "node 7")
    raises(get(lambda: nx.disjoint_union(nx.cycle_graph(4), nx.cycle_graph(4))), "2 components")
    directed = nx.DiGraph([(0, 1), (1, 2)])
    raises(get(directed, 3), "not strongly connected")


def weighted(*edges: tuple[int, int, Any], directed: bool = False) -> nx.Graph:
    """A graph with the given ``weight`` attributes."""
    graph = nx.DiGraph() if directed else nx.Graph()
    for u, v, w in edges:
        graph.add_edge(u, v, weight=w)
    return graph


def test_attribute_weights_that_are_negative() -> None:
    raises(
        get(weighted((0, 1, -0.2), (1, 2, 0.5)), 3, weights="attribute"),
        "not nonnegative",
        "w[0,1]=-0.2",
    )
    # Rows that over-sum leave a negative remainder on the diagonal.
    raises(
        get(weighted((0, 1, 0.7), (0, 2, 0.7)), 3, weights="attribute"),
        "not nonnegative",
        "w[0,0]=-0.4",
    )


def test_attribute_weights_that_are_not_stochastic() -> None:
    graph = weighted((0, 1, 0.5), (1, 2, 0.5), (0, 0, 0.9))
    raises(get(graph, 3, weights="attribute"), "not row stochastic", "row 0 sums to 1.4")
    directed = weighted((0, 1, 0.5), (1, 2, 0.5), (2, 0, 0.5), directed=True)
    directed.add_edge(0, 0, weight=0.1)
    directed.add_edge(1, 1, weight=0.1)
    directed.add_edge(2, 2, weight=0.1)
    raises(get(directed, 3, weights="attribute"), "not row stochastic", "sums to 0.6")


def test_attribute_weights_that_are_not_numbers() -> None:
    raises(
        get(weighted((0, 1, "heavy"), (1, 2, 0.5)), 3, weights="attribute"),
        "'heavy', not a number",
        wrapped=True,
    )


def test_weight_rule_that_is_not_known_as_keyword() -> None:
    raises(get("ring", weights="metropolis_hastings"), "unknown weight rule 'metropolis_hastings'")


def test_file_that_does_not_exist(tmp_path: Path) -> None:
    raises(get(str(tmp_path / "missing.graphml")), "missing.graphml does not exist")
    raises(get(tmp_path / "missing.edgelist"), "does not exist")


def test_file_of_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("0 1\n")
    raises(lambda: topologies.read_graph(path), "unknown graph file type '.txt'", ".graphml")


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("garbage.graphml", "this is <not xml", ["cannot parse", "garbage.graphml", "graphml"]),
        ("broken.graphml", "<graphml><graph><node id='0'", ["cannot parse", "broken.graphml"]),
        ("malformed.json", "{not json", ["cannot parse", "malformed.json", "json"]),
        ("wrong.json", json.dumps({"nodes": 3}), ["cannot parse", "wrong.json"]),
        ("dup.gml", "graph [ node [ id 0 ] node [ id 0 ] ]", ["cannot parse", "dup.gml"]),
    ],
)
def test_file_that_does_not_parse(
    name: str, content: str, needles: list[str], tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(content)
    raises(get(str(path)), *needles, wrapped=True)


def test_graph_file_takes_only_weights(tmp_path: Path) -> None:
    path = tmp_path / "ring.edgelist"
    nx.write_edgelist(nx.cycle_graph(8), path, data=False)
    raises(
        get(f"{path}:q=0.2"),
        "ring.edgelist: unknown parameter 'q'",
        "a graph file takes only weights=RULE",
        "ring.edgelist:weights=max_degree",
    )
    raises(get(f"{path}:weights=lazy,rows=2"), "unknown parameter 'rows'")
    raises(get(f"{path}:weights=nope"), "unknown weight rule 'nope'")
    raises(get(f"{path}:lazy"), "'lazy' is not key=value", "ring.edgelist:weights=max_degree")
    raises(get(f"{path}:weights=lazy,weights=lazy"), "'weights' is given twice")
    raises(get(f"{tmp_path / 'missing.edgelist'}:weights=lazy"), "missing.edgelist does not exist")


def test_missing_parameter_of_a_user_builder_shows_a_usable_spec() -> None:
    saved = dict(topologies.BUILDERS)
    try:

        @topologies.register("test_needs_d")
        def needs_d(n: int, d: int, p: float = 0.5) -> nx.Graph:
            return nx.random_regular_graph(d, n, seed=0)

        @topologies.register("test_needs_k", example="test_needs_k:k=4")
        def needs_k(n: int, k: int) -> nx.Graph:
            return nx.circulant_graph(n, range(1, k // 2 + 1))

        raises(get("test_needs_d"), "missing parameter 'd'", "write e.g. test_needs_d:d=<int>")
        raises(get("test_needs_k"), "missing parameter 'k'", "write e.g. test_needs_k:k=4")
        assert topologies.get("test_needs_k:k=4", 8).graph(0).number_of_edges() == 16
    finally:
        topologies.BUILDERS.clear()
        topologies.BUILDERS.update(saved)


def test_weight_rule_of_the_wrong_shape() -> None:
    raises(
        get("ring", weights=lambda graph: np.eye(3)),
        "mixing matrix of round 0 of ring has shape (3, 3), not (8, 8)",
    )


def test_file_with_no_nodes(tmp_path: Path) -> None:
    path = tmp_path / "empty.edgelist"
    path.write_text("# nothing here\n")
    raises(get(str(path)), "holds no nodes")


def test_file_with_bad_labels_or_size(tmp_path: Path) -> None:
    path = tmp_path / "gaps.graphml"
    nx.write_graphml(nx.relabel_nodes(nx.cycle_graph(3), {0: 0, 1: 5, 2: 9}), path)
    raises(get(str(path), 3), "gaps.graphml", "with gaps")
    path = tmp_path / "small.edgelist"
    nx.write_edgelist(nx.cycle_graph(5), path, data=False)
    raises(get(str(path), 8), "small.edgelist has 5 nodes but there are 8 agents")


def test_import_path_that_does_not_exist(tmp_path: Path) -> None:
    raises(
        get("concord_no_such_module_xyz.graphs:campus"),
        "cannot import module 'concord_no_such_module_xyz.graphs'",
        "PYTHONPATH",
        wrapped=True,
    )
    raises(get("os.path:no_such_graph"), "module 'os.path' has no attribute 'no_such_graph'")
    raises(get(f"{tmp_path / 'missing.py'}:campus"), "missing.py does not exist")


def test_import_of_a_module_that_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "concord_broken_graphs.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "concord_broken_graphs", raising=False)
    raises(get("concord_broken_graphs:f"), "RuntimeError: boom", wrapped=True)
    raises(get(f"{tmp_path / 'concord_broken_graphs.py'}:f"), "RuntimeError: boom", wrapped=True)


def test_user_function_that_fails_or_returns_garbage(tmp_path: Path) -> None:
    def explode(n: int) -> nx.Graph:
        raise KeyError("nope")

    raises(get(explode), "explode() raised KeyError", wrapped=True)
    raises(get(lambda: 42), "gave a int", "expected a networkx graph")
    raises(get(object()), "gave a object")
    raises(get([]), "the given list of graphs is empty", "give at least one graph")
    varying = topologies.FromCallable(lambda t: 1 / t, n=8, name="inverse")
    raises(lambda: varying.graph(0), "inverse(t=0) raised ZeroDivisionError", wrapped=True)
    returns_none = topologies.FromCallable(lambda t: None, n=8, name="nothing")
    raises(lambda: returns_none.graph(0), "NoneType", "not a networkx graph")


def test_bad_window_and_check_arguments() -> None:
    raises(lambda: topologies.check_b_connected(topologies.get("ring", 4), 0), "window B=0")
    raises(lambda: topologies.check_weights([[1.0]], ["psd"]), "unknown weight property 'psd'")
