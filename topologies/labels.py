"""Node labels: every graph Concord uses has nodes ``0..n-1`` (node i is agent i)."""

from __future__ import annotations

import re
from typing import Any

import networkx as nx

from .errors import TopologyError

_FIX = "relabel with networkx.convert_node_labels_to_integers(G)"


def _as_int(label: object) -> int | None:
    if isinstance(label, bool):
        return None
    if isinstance(label, int):
        return label
    if isinstance(label, str) and label.strip().lstrip("-").isdigit():
        return int(label)
    return None


def natural_key(label: object) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders the digit runs of a label by value: ``n2`` before ``n10``.

    Examples
    --------
    >>> sorted(["n10", "n2", "a", "n1"], key=natural_key)
    ['a', 'n1', 'n2', 'n10']
    """
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", str(label))
        if part
    )


def _relabel(graph: nx.Graph, mapping: dict[object, int], n: int) -> nx.Graph:
    out = graph.__class__()
    out.graph.update(graph.graph)
    out.add_nodes_from(range(n))
    out.add_edges_from((mapping[u], mapping[v], data) for u, v, data in graph.edges(data=True))
    return out


def normalize_labels(
    graph: nx.Graph, n: int, source: str = "the graph", *, record: dict[str, Any] | None = None
) -> nx.Graph:
    """Return ``graph`` with nodes ``0..n-1``, or raise a :class:`TopologyError`.

    Integer labels (or strings of integers, as read from an edge list) that are
    exactly ``0..n-1`` or ``1..n`` are accepted; ``1..n`` is shifted down by one.
    Labels that are not all integers (``n0 n1 ...``, ``alice bob``) are numbered
    in natural sort order (``n2`` before ``n10``); the mapping (label text ->
    agent) goes to ``record["node_labels"]`` when a ``record`` dict is given (a
    :class:`StaticSchedule` passes its ``details``). Integers with gaps are
    ambiguous and refused.

    Examples
    --------
    >>> import networkx as nx
    >>> sorted(normalize_labels(nx.path_graph([1, 2, 3]), 3).edges())
    [(0, 1), (1, 2)]
    >>> names = {}
    >>> g = normalize_labels(nx.path_graph(["n10", "n2", "n1"]), 3, record=names)
    >>> sorted(g.edges()), names["node_labels"]
    ([(0, 1), (1, 2)], {'n1': 0, 'n2': 1, 'n10': 2})
    """
    if not isinstance(graph, nx.Graph):
        raise TopologyError(
            f"{source} is a {type(graph).__name__}, not a networkx graph; return nx.Graph or nx.DiGraph"
        )
    if isinstance(graph, (nx.MultiGraph, nx.MultiDiGraph)):
        graph = nx.DiGraph(graph) if graph.is_directed() else nx.Graph(graph)
    m = graph.number_of_nodes()
    if m != n:
        raise TopologyError(
            f"{source} has {m} nodes but there are {n} agents; use {m} agents or a graph with {n} nodes"
        )
    ints = {node: _as_int(node) for node in graph.nodes}
    if any(value is None for value in ints.values()):
        order = sorted(graph.nodes, key=natural_key)
        names = [str(node) for node in order]
        if len(set(names)) != n:
            raise TopologyError(f"{source} has node labels that collide as text; {_FIX}")
        if record is not None:
            record["node_labels"] = {name: i for i, name in enumerate(names)}
        return _relabel(graph, {node: i for i, node in enumerate(order)}, n)
    as_ints = {node: value for node, value in ints.items() if value is not None}
    values = set(as_ints.values())
    if len(values) != n:
        raise TopologyError(f"{source} has node labels that collide as integers; {_FIX}")
    if values == set(range(n)):
        shift = 0
    elif values == set(range(1, n + 1)):
        shift = 1
    else:
        raise TopologyError(
            f"{source} has node labels {min(values)}..{max(values)} with gaps; nodes must be 0..{n - 1}; {_FIX}"
        )
    return _relabel(graph, {node: value - shift for node, value in as_ints.items()}, n)
