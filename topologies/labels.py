"""Node labels: every graph Concord uses has nodes ``0..n-1`` (node i is agent i)."""

from __future__ import annotations

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


def normalize_labels(graph: nx.Graph, n: int, source: str = "the graph") -> nx.Graph:
    """Return ``graph`` with nodes ``0..n-1``, or raise a :class:`TopologyError`.

    Integer labels (or strings of integers, as read from an edge list) that are
    exactly ``0..n-1`` or ``1..n`` are accepted; ``1..n`` is shifted down by one.
    Anything else is ambiguous and refused.

    Examples
    --------
    >>> import networkx as nx
    >>> sorted(normalize_labels(nx.path_graph([1, 2, 3]), 3).edges())
    [(0, 1), (1, 2)]
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
    bad = [node for node, value in ints.items() if value is None]
    if bad:
        raise TopologyError(
            f"{source} has node labels that are not integers (e.g. {bad[0]!r}); {_FIX}"
        )
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
    mapping = {node: value - shift for node, value in as_ints.items()}
    out = graph.__class__()
    out.graph.update(graph.graph)
    out.add_nodes_from(range(n))
    out.add_edges_from((mapping[u], mapping[v], data) for u, v, data in graph.edges(data=True))
    return out
