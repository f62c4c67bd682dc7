"""Pictures: a graph with its weights, a few rounds of a schedule, spectral gap against n."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from scipy.spatial.distance import pdist

from .schedules import Schedule, StaticSchedule
from .spectral import spectral_gap

Positions = dict[int, Any]


def _min_spacing(n: int) -> float:
    """How close (as a fraction of the drawing's width) two nodes may come before they touch.

    About one node diameter as :func:`draw` sizes them: big nodes up to 16 agents, small beyond.
    """
    return 0.07 if n <= 16 else 0.03


def _crowded(pos: Positions) -> bool:
    """True when two nodes of ``pos`` (nearly) lie on top of each other."""
    points = np.array(list(pos.values()), dtype=np.float64).reshape(len(pos), -1)
    if len(points) < 2:
        return False
    span = float(np.ptp(points, axis=0).max())
    return span <= 0.0 or float(pdist(points).min()) < _min_spacing(len(points)) * span


def layout(graph: nx.Graph, kind: str = "auto", seed: int = 0) -> Positions:
    """Node positions: ``circular``, ``spring``, ``kamada_kawai``, or ``auto``.

    ``auto`` uses a ``pos`` node attribute when every node has one (random
    geometric graphs), Kamada–Kawai for connected graphs up to 64 nodes, and a
    circle otherwise, or when Kamada–Kawai puts two nodes on top of each other
    (it can on very symmetric graphs).
    """
    pos = nx.get_node_attributes(graph, "pos")
    if kind == "auto":
        if len(pos) == graph.number_of_nodes():
            return pos
        if graph.number_of_nodes() <= 64 and nx.is_connected(graph.to_undirected()):
            pos = nx.kamada_kawai_layout(graph)
            if not _crowded(pos):
                return pos
        kind = "circular"
    layouts = {
        "circular": lambda g: nx.circular_layout(g),
        "spring": lambda g: nx.spring_layout(g, seed=seed),
        "kamada_kawai": lambda g: nx.kamada_kawai_layout(g),
    }
    return layouts[kind](graph)


def _gap_text(gap: float) -> str:
    """A spectral gap with three decimals, never ``-0.000``."""
    return f"{0.0 if abs(gap) < 5e-4 else gap:.3f}"


def _as_schedule(obj: nx.Graph | Schedule) -> Schedule:
    return obj if isinstance(obj, Schedule) else StaticSchedule(obj)


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

    Edge labels show ``w_ij`` when ``show_weights`` (default: up to 16 nodes);
    node labels show the self-weight ``w_ii``. Saves a PNG to ``path`` if given
    and returns the matplotlib axes.

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
    small = schedule.n <= 16 if show_weights is None else show_weights
    arrows: dict[str, Any] = {"arrows": False}
    if graph.is_directed():
        arrows = {"arrows": True, "arrowsize": 8}
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#8a8a8a", **arrows)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#3b6ea8", node_size=320 if small else 60)
    if small:
        nx.draw_networkx_labels(graph, pos, ax=ax, font_color="white", font_size=8)
        labels = {(u, v): f"{W[v, u]:.2f}" for u, v in graph.edges() if u != v}
        nx.draw_networkx_edge_labels(
            graph, pos, edge_labels=labels, ax=ax, font_size=6, rotate=False
        )
    if title is None:
        title = f"{schedule.name}, round {t}\nspectral gap {_gap_text(spectral_gap(W))}"
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    if own and path is not None:
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
    return ax


def draw_rounds(
    schedule: Schedule, path: str | os.PathLike | None = None, *, rounds: int = 4, start: int = 0
) -> Any:
    """Draw ``rounds`` consecutive rounds side by side, nodes fixed on a circle.

    Examples
    --------
    >>> import topologies
    >>> fig = topologies.draw_rounds(topologies.get("random_matching", 8), rounds=3)
    """
    # Constrained layout keeps the figure title clear of the rounds' titles.
    fig, axes = plt.subplots(1, rounds, figsize=(3.2 * rounds, 3.6), layout="constrained")
    axes = np.atleast_1d(axes)
    pos = nx.circular_layout(range(schedule.n))
    for k, ax in enumerate(axes):
        t = start + k
        draw(
            schedule,
            t=t,
            ax=ax,
            pos=pos,
            title=f"round {t}\ngap {_gap_text(spectral_gap(schedule.weights(t)))}",
        )
    fig.suptitle(schedule.name, fontsize=10)
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
