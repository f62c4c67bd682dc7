"""Reading graphs from files: edge list, adjacency list, GraphML, GML, node-link JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import networkx as nx

from .errors import TopologyError


def _node_link(path: Path) -> nx.Graph:
    data = json.loads(path.read_text())
    edges_key = "edges" if "edges" in data else "links"
    return nx.node_link_graph(data, edges=edges_key)


def _is_int(token: str) -> bool:
    return token.lstrip("-").isdigit()


def _edgelist(path: Path) -> nx.Graph:
    # Three columns means a weight; anything else is read as plain pairs. Node names are
    # integers when they all are, else text (relabelled 0..n-1 in natural order later).
    rows = [ln.split("#")[0].split() for ln in path.read_text().splitlines()]
    rows = [r for r in rows if r]
    nodetype = int if all(_is_int(t) for r in rows for t in r[:2]) else str
    if rows and all(len(r) == 3 for r in rows):
        try:
            [float(r[2]) for r in rows]
            return nx.read_weighted_edgelist(path, nodetype=nodetype)
        except ValueError:
            pass
    return nx.read_edgelist(path, nodetype=nodetype, data=False)


def _adjlist(path: Path) -> nx.Graph:
    tokens = [t for ln in path.read_text().splitlines() for t in ln.split("#")[0].split()]
    return nx.read_adjlist(path, nodetype=int if all(map(_is_int, tokens)) else str)


#: File suffix -> reader.
READERS: dict[str, Callable[[Path], nx.Graph]] = {
    ".edgelist": _edgelist,
    ".edges": _edgelist,
    ".adjlist": _adjlist,
    ".graphml": nx.read_graphml,
    ".gml": lambda p: nx.read_gml(p, label="id"),
    ".json": _node_link,
}


def is_graph_file(spec: str) -> bool:
    """True when ``spec`` ends in a known graph-file suffix."""
    return Path(spec.split("?")[0]).suffix.lower() in READERS


def read_graph(path: str | Path) -> nx.Graph:
    """Read a graph file; the format is chosen by suffix.

    Edge lists (``.edgelist``, ``.edges``) and adjacency lists (``.adjlist``) give
    undirected graphs (a third numeric column of an edge list becomes the
    ``weight`` attribute); GraphML, GML and node-link JSON keep their own
    directedness and attributes. Node names may be integers or any words
    (``n0 n1 ...``): a schedule numbers words ``0..n-1`` in natural sort order
    and records the mapping (see :func:`~topologies.normalize_labels`).

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.edgelist")
    >>> nx.write_edgelist(nx.cycle_graph(4), p, data=False)
    >>> read_graph(p).number_of_edges()
    4
    """
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        raise TopologyError(
            f"unknown graph file type {p.suffix!r} for {p}; use one of {', '.join(READERS)}"
        )
    if not p.is_file():
        raise TopologyError(f"graph file {p} does not exist; check the path")
    try:
        graph = reader(p)
    except Exception as err:  # any parser error becomes one line
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TopologyError(
            f"cannot parse {p} as {p.suffix[1:]}: {first}; check the file's format"
        ) from None
    if not isinstance(graph, nx.Graph) or graph.number_of_nodes() == 0:
        raise TopologyError(f"{p} holds no nodes; check the file")
    return graph
