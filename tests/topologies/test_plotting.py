"""Plots: PNG files written, layouts chosen per family, labels only where they fit, window gaps."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from scipy.spatial.distance import pdist

import topologies
import topologies.plotting as plotting

matplotlib.use("Agg")  # no display needed
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(topologies.__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Close every figure a test leaves open."""
    yield
    plt.close("all")


def assert_png(path: Path) -> None:
    """A non-empty PNG file."""
    assert path.is_file()
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("spec", "n"),
    [("ring", 6), ("exponential", 8), ("random_geometric", 20), ("torus", 100)],
)
def test_draw_writes_png(spec: str, n: int, tmp_path: Path) -> None:
    path = tmp_path / f"{spec}.png"
    ax = topologies.draw(topologies.get(spec, n), path)
    assert ax is not None
    assert_png(path)


def test_draw_a_plain_graph_and_a_later_round(tmp_path: Path) -> None:
    topologies.draw(nx.cycle_graph(5), tmp_path / "graph.png", show_weights=True, title="five")
    assert_png(tmp_path / "graph.png")
    topologies.draw(topologies.get("random_matching", 8), tmp_path / "round3.png", t=3)
    assert_png(tmp_path / "round3.png")


def test_draw_rounds_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "rounds.png"
    fig = topologies.draw_rounds(topologies.get("one_peer_exponential", 8), path, rounds=3)
    assert len(fig.axes) == 3
    assert_png(path)
    topologies.draw_rounds(topologies.get("random_matching", 6), tmp_path / "one.png", rounds=1)
    assert_png(tmp_path / "one.png")


def test_plot_spectral_gap_writes_png(tmp_path: Path) -> None:
    path = tmp_path / "gaps.png"
    ax = topologies.plot_spectral_gap(["ring", "torus", "hypercube"], [4, 8, 16, 32], path)
    assert len(ax.get_lines()) == 3
    assert_png(path)


def test_draw_rounds_title_clears_the_round_titles() -> None:
    fig = topologies.draw_rounds(topologies.get("link_failure:base=torus,q=0.3", 16), rounds=3)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)  # run the layout
    top = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        title = ax.title.get_window_extent(renderer)
        assert title.y1 <= top.y0, (title, top)
    assert top.y1 <= fig.bbox.y1  # and the figure title is inside the figure


def test_disconnected_rounds_show_a_zero_gap() -> None:
    s = topologies.get("random_matching", 8, seed=0)
    assert [topologies.spectral_gap(s.weights(t)) for t in range(4)] == [0.0] * 4
    fig = topologies.draw_rounds(s, rounds=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert all(title.endswith("gap 0.000") for title in titles), titles
    ax = topologies.draw(s, t=1)
    assert ax.get_title().endswith("spectral gap 0.000")


def test_auto_layout_falls_back_to_a_circle_when_nodes_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph = topologies.hypercube(16)  # neither a grid nor circulant: Kamada-Kawai

    def collapsed(g: nx.Graph) -> dict[int, np.ndarray]:
        return {v: np.array([float(v % 2), 0.0]) for v in g.nodes}  # nodes on two points

    monkeypatch.setattr(plotting.nx, "kamada_kawai_layout", collapsed)
    pos = plotting.layout(graph)
    angles = 2 * np.pi * np.arange(16) / 16
    np.testing.assert_allclose(
        np.array([pos[v] for v in range(16)]), np.column_stack([np.cos(angles), np.sin(angles)])
    )


@pytest.mark.parametrize(
    ("spec", "n", "kind"),
    [
        ("torus", 16, "grid"),
        ("torus:rows=2,cols=4", 8, "grid"),
        ("grid", 12, "grid"),
        ("ring", 64, "circular"),
        ("ring", 8, "circular"),
        ("exponential", 16, "circular"),
        ("complete", 8, "circular"),
        ("star", 9, "kamada_kawai"),
        ("hypercube", 16, "kamada_kawai"),
        ("erdos_renyi:p=0.1", 100, "spring"),
    ],
)
def test_layout_follows_the_family(spec: str, n: int, kind: str) -> None:
    assert plotting.layout_kind(topologies.get(spec, n, seed=1).graph(0)) == kind


def test_layout_uses_a_graphs_own_positions() -> None:
    graph = topologies.random_geometric(20, seed=1)
    assert plotting.layout_kind(graph) == "pos"
    assert plotting.layout(graph) == nx.get_node_attributes(graph, "pos")


def test_grid_layout_puts_a_torus_on_its_lattice() -> None:
    pos = plotting.layout(topologies.get("torus:rows=2,cols=4", 8).graph(0))
    assert isinstance(pos, plotting.GridPositions) and pos.shape == (2, 4)
    np.testing.assert_allclose(pos[6], [2.0, -1.0])  # row 1, column 2


def test_torus_wrap_edges_are_stubs_not_lines_across() -> None:
    ax = topologies.draw(topologies.get("torus", 16))
    (edges,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(edges.get_segments()) == 24  # the 4 x 4 grid's own links
    assert len(ax.lines) == 2 * 8  # 8 wrap-around links, two stubs each
    for segment in edges.get_segments():
        assert np.abs(segment[1] - segment[0]).sum() == pytest.approx(1.0)  # lattice neighbours


def text_of(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


@pytest.mark.parametrize("show_weights", [None, True])
def test_no_node_labels_past_the_threshold(show_weights: bool | None) -> None:
    ax = topologies.draw(topologies.get("ring", 64), show_weights=show_weights)
    assert not [s for s in text_of(ax) if s.isdigit()], text_of(ax)
    ax = topologies.draw(topologies.get("ring", plotting.LABEL_LIMIT))
    assert sorted(int(s) for s in text_of(ax) if s.isdigit()) == list(range(plotting.LABEL_LIMIT))


def test_equal_weights_are_said_once_different_ones_on_each_edge() -> None:
    ax = topologies.draw(topologies.get("torus", 16))
    assert "weight 0.20 on every edge" in text_of(ax)
    assert "0.20" not in text_of(ax)
    ax = topologies.draw(topologies.get("star", 5))  # Metropolis: 0.20 on every spoke ... once
    star = text_of(ax)
    ax = topologies.draw(topologies.get("path", 4))  # 1/3 inside, 1/3 at the ends: once as well
    labels = [s for s in text_of(ax) + star if s.startswith("0.")]
    assert labels == [], labels
    ax = topologies.draw(topologies.get("grid", 6))  # degrees 2 and 3: 0.33 and 0.25
    assert {"0.33", "0.25"} <= set(text_of(ax))


def test_draw_rounds_shows_the_gap_of_the_window_product() -> None:
    fig = topologies.draw_rounds(topologies.get("one_peer_exponential", 8), rounds=3)
    assert [ax.get_title().splitlines()[1] for ax in fig.axes] == [
        "gap 0.076",
        "gap 0.000",
        "gap 0.000",
    ]
    assert fig.get_suptitle().splitlines()[1] == "product of rounds 0-2 (one period): gap 1.000"
    flaky = topologies.get("link_failure:base=torus,q=0.3", 16, seed=0)
    fig = topologies.draw_rounds(flaky, rounds=4)
    gap = 1 - topologies.window_contraction(flaky, start=0, length=4)
    assert fig.get_suptitle().splitlines()[1] == f"product of rounds 0-3: gap {gap:.3f}"
    assert all(plotting.layout_kind(flaky.graph(t)) == "grid" for t in range(4))


@pytest.mark.parametrize(
    ("spec", "n"),
    [("torus", 16), ("hypercube", 16), ("complete", 8), ("symmetric_exponential", 16), ("star", 9)],
)
def test_auto_layout_keeps_nodes_apart(spec: str, n: int) -> None:
    pos = plotting.layout(topologies.get(spec, n).graph(0))
    points = np.array([pos[v] for v in range(n)])
    span = np.ptp(points, axis=0).max()
    assert pdist(points).min() >= 0.07 * span


def test_importing_topologies_leaves_the_matplotlib_backend_alone() -> None:
    code = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "import topologies\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "svg"
