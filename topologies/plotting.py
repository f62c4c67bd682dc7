"""Pictures: a graph with its weights, a few rounds of a schedule, spectral gap against n.

Layouts follow the graph's family: its own ``pos`` attribute (random geometric
graphs), a lattice for grids and tori, a circle in node order for rings and the
other circulant graphs (exponential graphs, complete graphs), force-directed
otherwise. Node ids and edge weights are drawn up to :data:`LABEL_LIMIT` nodes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from scipy.spatial.distance import pdist

from .checks import union_graph
from .schedules import Schedule, StaticSchedule
from .spectral import spectral_gap, window_contraction

Positions = dict[int, Any]

#: Node ids and edge weights are drawn for graphs up to this many nodes.
LABEL_LIMIT = 16
_CURVE = 0.12  # bend of directed edges, so that u -> v and v -> u do not overlap
_STUB = 0.4  # length of a wrap-around edge's stubs, in grid spacings
_EDGE_COLOR = "#8a8a8a"


class GridPositions(dict[int, Any]):
    """Positions on a ``rows x cols`` lattice (node ``r * cols + c`` at ``(c, -r)``).

    :func:`draw` draws the wrap-around edges of a torus as short stubs leaving
    the lattice instead of lines across it.
    """

    def __init__(self, rows: int, cols: int):
        super().__init__(
            {
                r * cols + c: np.array([float(c), -float(r)])
                for r in range(rows)
                for c in range(cols)
            }
        )
        self.shape = (rows, cols)


def _pairs(graph: nx.Graph) -> set[tuple[int, int]]:
    """The links of ``graph`` as sorted node pairs, direction and self-loops dropped."""
    return {(min(u, v), max(u, v)) for u, v in graph.edges() if u != v}


def _numbered(graph: nx.Graph) -> bool:
    return set(graph.nodes) == set(range(graph.number_of_nodes()))


def grid_shape(graph: nx.Graph) -> tuple[int, int] | None:
    """``(rows, cols)`` when ``graph`` is (most of) a grid or torus numbered row-major, else None.

    Every link must join lattice neighbours (wrapping around allowed), and at
    least half of the grid's own links must be there, so a torus that lost some
    links still counts. Shapes closest to square are tried first.

    Examples
    --------
    >>> import topologies
    >>> grid_shape(topologies.torus(12)), grid_shape(topologies.grid(8, rows=4)), grid_shape(nx.cycle_graph(8))
    ((3, 4), (4, 2), None)
    """
    n = graph.number_of_nodes()
    if n < 4 or not _numbered(graph):
        return None
    links = _pairs(graph)
    shapes = sorted(
        ((r, n // r) for r in range(2, n // 2 + 1) if n % r == 0), key=lambda rc: abs(rc[0] - rc[1])
    )
    for rows, cols in shapes:
        grid = _grid_links(rows, cols)
        if links <= grid | _wrap_links(rows, cols) and 2 * len(links & grid) >= len(grid):
            return rows, cols
    return None


def _grid_links(rows: int, cols: int) -> set[tuple[int, int]]:
    """Links between lattice neighbours, row-major numbering, no wrap-around."""
    right = {(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)}
    down = {(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)}
    return right | down


def _wrap_links(rows: int, cols: int) -> set[tuple[int, int]]:
    """The links a torus adds to the grid: last column to first, last row to first."""
    across = {(r * cols, r * cols + cols - 1) for r in range(rows)}
    down = {(c, (rows - 1) * cols + c) for c in range(cols)}
    return across | down


def is_circulant(graph: nx.Graph) -> bool:
    """True when turning node ``i`` into ``i + 1 (mod n)`` maps the links onto themselves.

    Rings, the exponential graphs and complete graphs are circulant: a circle
    in node order draws them symmetrically.

    Examples
    --------
    >>> import topologies
    >>> is_circulant(topologies.ring(8)), is_circulant(topologies.torus(16))
    (True, False)
    """
    n = graph.number_of_nodes()
    if n < 3 or not _numbered(graph):
        return False
    links = _pairs(graph)
    return all(
        ((u + 1) % n, (v + 1) % n) in links or ((v + 1) % n, (u + 1) % n) in links for u, v in links
    )


def _circle(graph: nx.Graph) -> Positions:
    """Nodes on the unit circle in sorted order, node 0 on the right, counterclockwise."""
    nodes = sorted(graph.nodes, key=str) if not _numbered(graph) else sorted(graph.nodes)
    n = max(len(nodes), 1)
    return {
        v: np.array([math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)])
        for k, v in enumerate(nodes)
    }


def _min_spacing(n: int) -> float:
    """How close (as a fraction of the drawing's width) two nodes may come before they touch.

    About one node diameter as :func:`draw` sizes them: big nodes up to 16 agents, small beyond.
    """
    return 0.07 if n <= LABEL_LIMIT else 0.03


def _crowded(pos: Positions) -> bool:
    """True when two nodes of ``pos`` (nearly) lie on top of each other."""
    points = np.array(list(pos.values()), dtype=np.float64).reshape(len(pos), -1)
    if len(points) < 2:
        return False
    span = float(np.ptp(points, axis=0).max())
    return span <= 0.0 or float(pdist(points).min()) < _min_spacing(len(points)) * span


def layout_kind(graph: nx.Graph) -> str:
    """The layout ``auto`` picks for ``graph``: ``pos``, ``grid``, ``circular``, ``kamada_kawai`` or ``spring``.

    ``pos`` when every node has a ``pos`` attribute (random geometric graphs);
    ``grid`` for grids and tori (see :func:`grid_shape`); ``circular`` for
    rings and other circulant graphs (see :func:`is_circulant`); otherwise a
    force-directed layout: Kamada–Kawai (a spring model that keeps nodes evenly
    apart) for connected graphs up to 64 nodes, a spring layout beyond.

    Examples
    --------
    >>> import topologies
    >>> [layout_kind(topologies.get(s, 16).graph(0)) for s in ("torus", "ring", "star")]
    ['grid', 'circular', 'kamada_kawai']
    """
    if (
        graph.number_of_nodes()
        and len(nx.get_node_attributes(graph, "pos")) == graph.number_of_nodes()
    ):
        return "pos"
    if grid_shape(graph) is not None:
        return "grid"
    if is_circulant(graph):
        return "circular"
    if graph.number_of_nodes() <= 64 and nx.is_connected(graph.to_undirected()):
        return "kamada_kawai"
    return "spring"


def layout(graph: nx.Graph, kind: str = "auto", seed: int = 0) -> Positions:
    """Node positions: ``auto`` (see :func:`layout_kind`), ``grid``, ``circular``, ``spring`` or ``kamada_kawai``.

    A force-directed layout that puts two nodes on top of each other (it can on
    very symmetric graphs) falls back to the circle.
    """
    if kind == "auto":
        kind = layout_kind(graph)
        if kind == "pos":
            return nx.get_node_attributes(graph, "pos")
    if kind == "grid":
        shape = grid_shape(graph)
        if shape is not None:
            return GridPositions(*shape)
        kind = "circular"
    if kind == "circular":
        return _circle(graph)
    layouts = {
        "spring": lambda g: nx.spring_layout(g, seed=seed),
        "kamada_kawai": lambda g: nx.kamada_kawai_layout(g),
    }
    pos = layouts[kind](graph)
    return _circle(graph) if _crowded(pos) else pos


def _gap_text(gap: float) -> str:
    """A spectral gap with three decimals, never ``-0.000``."""
    return f"{0.0 if abs(gap) < 5e-4 else gap:.3f}"


def _as_schedule(obj: nx.Graph | Schedule) -> Schedule:
    return obj if isinstance(obj, Schedule) else StaticSchedule(obj)


def _draw_edges(
    ax: Any, graph: nx.Graph, pos: Positions, node_size: int
) -> dict[tuple[int, int], np.ndarray]:
    """Draw the edges; returns where each edge's weight label goes.

    Directed edges bend (``arc3``), so both directions of a link show. On a
    :class:`GridPositions` lattice a wrap-around edge is two stubs pointing out
    of the lattice, its label on the first stub.
    """
    directed = graph.is_directed()
    anchors: dict[tuple[int, int], np.ndarray] = {}
    drawn, wraps = [], []
    for u, v in graph.edges():
        d = np.asarray(pos[v], dtype=float) - np.asarray(pos[u], dtype=float)
        if isinstance(pos, GridPositions) and np.abs(d).max() > 1.5:
            wraps.append((u, v))
            out = -np.sign(d) * (np.abs(d) > 1.5)  # away from the partner, along the wrapping axis
            for node, step in ((u, out), (v, -out)):
                end = pos[node] + _STUB * step
                ax.plot(
                    *zip(pos[node], end, strict=True), color=_EDGE_COLOR, ls="--", lw=1, zorder=0
                )
            anchors[(u, v)] = pos[u] + _STUB * out  # the stub's outer end, clear of the node
            continue
        drawn.append((u, v))
        if u != v:
            bend = _CURVE / 2 * np.array([d[1], -d[0]]) if directed else 0.0
            anchors[(u, v)] = (
                np.asarray(pos[u], dtype=float) + np.asarray(pos[v], dtype=float)
            ) / 2 + bend
    style: dict[str, Any] = {"arrows": False}
    if directed:
        style = {"arrows": True, "arrowsize": 8, "connectionstyle": f"arc3,rad={_CURVE}"}
    nx.draw_networkx_edges(
        graph, pos, edgelist=drawn, ax=ax, edge_color=_EDGE_COLOR, node_size=node_size, **style
    )
    return anchors


def _draw_weights(ax: Any, W: Any, anchors: dict[tuple[int, int], np.ndarray]) -> None:
    """Label edge ``u -> v`` with ``W[v, u]``, or say once that every edge has the same weight."""
    labels = {edge: f"{W[edge[1], edge[0]]:.2f}" for edge in anchors}
    if len(set(labels.values())) == 1:
        (value,) = set(labels.values())
        ax.annotate(
            f"weight {value} on every edge",
            (0.5, 0.0),
            xycoords="axes fraction",
            xytext=(0, -10),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7,
        )  # fmt: skip: 10 points below the axes clears the bottom nodes
        return
    box = {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8}
    for edge, text in labels.items():
        # Under the nodes (zorder 2), over the edges (1): a label never hides a node.
        ax.text(*anchors[edge], text, fontsize=6, ha="center", va="center", bbox=box, zorder=1.5)


def draw(
    topology: nx.Graph | Schedule,
    path: str | os.PathLike | None = None,
    *,
    t: int = 0,
    ax: Any = None,
    pos: Positions | None = None,
    show_weights: bool | None = None,
    title: str | None = None,
) -> Any:
    """Draw round ``t`` of a schedule (or a graph) with its mixing weights.

    The layout follows the family (see :func:`layout_kind`). Up to
    :data:`LABEL_LIMIT` nodes, nodes show their ids and, when ``show_weights``
    (default: up to :data:`LABEL_LIMIT` nodes), edge ``u -> v`` shows
    ``W[v, u]``, the weight agent ``v`` puts on ``u``'s value; when every edge
    has the same weight, one line under the picture says so. Saves a PNG to
    ``path`` if given and returns the matplotlib axes.

    Examples
    --------
    >>> import topologies
    >>> ax = topologies.draw(topologies.get("ring", 6))
    """
    schedule = _as_schedule(topology)
    graph, W = schedule.graph(t), schedule.weights(t)
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(4.2, 4.2))
    pos = pos or layout(graph)
    labelled = schedule.n <= LABEL_LIMIT
    node_size = 320 if labelled else 60
    anchors = _draw_edges(ax, graph, pos, node_size)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#3b6ea8", node_size=node_size)
    if labelled:
        nx.draw_networkx_labels(graph, pos, ax=ax, font_color="white", font_size=8)
    if (labelled if show_weights is None else show_weights) and anchors:
        _draw_weights(ax, W, anchors)
    if title is None:
        title = f"{schedule.name}, round {t}\nspectral gap {_gap_text(spectral_gap(W))}"
    ax.set_title(title, fontsize=9)
    ax.margins(0.12)  # room for node discs, stubs and labels at the edges
    ax.set_aspect("equal", adjustable="datalim")  # keep the box: layout engines placed it
    ax.set_axis_off()
    if own and path is not None:
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
    return ax


def window_gap(schedule: Schedule, start: int = 0, length: int | None = None) -> float:
    """Spectral gap of the product of ``length`` rounds from ``start``: ``1 - window_contraction``.

    ``length`` defaults to one period of a periodic schedule. One round of a
    time-varying schedule may not mix at all (gap 0) while the window does: the
    one-peer exponential graph averages exactly over a period (gap 1).

    Examples
    --------
    >>> import topologies
    >>> s = topologies.get("one_peer_exponential", 8)
    >>> round(topologies.spectral_gap(s.weights(1)), 3), round(window_gap(s), 3)
    (0.0, 1.0)
    """
    length = length or schedule.period or 1
    return 1.0 - window_contraction(schedule, start=start, length=length)


def draw_rounds(
    schedule: Schedule,
    path: str | os.PathLike | None = None,
    *,
    rounds: int = 4,
    start: int = 0,
    window: int | None = None,
) -> Any:
    """Draw ``rounds`` consecutive rounds side by side, nodes fixed, with the gap of their window.

    Each round's title has its own spectral gap; the figure's title has the gap
    of the product of ``window`` rounds from ``start`` (default: one period of
    a periodic schedule, else the ``rounds`` drawn), which is what decides
    mixing when single rounds do not connect the agents. The layout is chosen
    (see :func:`layout_kind`) for the union of the rounds.

    Examples
    --------
    >>> import topologies
    >>> fig = topologies.draw_rounds(topologies.get("one_peer_exponential", 8), rounds=3)
    >>> fig.axes[1].get_title().splitlines()[1], fig.get_suptitle().splitlines()[1]
    ('gap 0.000', 'product of rounds 0-2 (one period): gap 1.000')
    """
    periodic = bool(schedule.period and schedule.period > 1)
    window = window or (schedule.period or rounds if periodic else rounds)
    span = range(start, start + max(rounds, window))
    union = union_graph((schedule.graph(t) for t in span), schedule.n, schedule.directed)
    pos = layout(union)
    # Constrained layout keeps the figure title clear of the rounds' titles.
    fig, axes = plt.subplots(1, rounds, figsize=(3.2 * rounds, 3.8), layout="constrained")
    for k, ax in enumerate(np.atleast_1d(axes)):
        t = start + k
        gap = _gap_text(spectral_gap(schedule.weights(t)))
        draw(schedule, t=t, ax=ax, pos=pos, title=f"round {t}\ngap {gap}")
    which = " (one period)" if periodic and window == schedule.period else ""
    gap = _gap_text(window_gap(schedule, start, window))
    fig.suptitle(
        f"{schedule.name}\nproduct of rounds {start}-{start + window - 1}{which}: gap {gap}",
        fontsize=10,
    )
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
    return fig


def spectral_gaps(
    specs: Sequence[str], sizes: Sequence[int], *, seed: int = 0
) -> dict[str, list[float]]:
    """Spectral gap of round 0 of each spec for each n (NaN where the spec does not fit n).

    Examples
    --------
    >>> gaps = spectral_gaps(["ring", "complete"], [4, 8])
    >>> round(gaps["complete"][1], 6)
    1.0
    """
    from .errors import TopologyError
    from .spec import get

    out: dict[str, list[float]] = {}
    for spec in specs:
        row = []
        for n in sizes:
            try:
                row.append(spectral_gap(get(spec, n, seed=seed).weights(0)))
            except TopologyError:
                row.append(float("nan"))
        out[spec] = row
    return out


def plot_spectral_gap(
    specs: Sequence[str],
    sizes: Sequence[int],
    path: str | os.PathLike | None = None,
    *,
    seed: int = 0,
) -> Any:
    """Plot spectral gap against n (log-log) for several specs; returns the axes."""
    gaps = spectral_gaps(specs, sizes, seed=seed)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for spec, row in gaps.items():
        ax.plot(sizes, row, marker="o", ms=3, label=spec)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("agents n")
    ax.set_ylabel("spectral gap 1 - ||W - J||")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
    return ax
