"""Plots: draw, draw_rounds and plot_spectral_gap write non-empty PNG files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pytest
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
    graph = topologies.torus(16)

    def collapsed(g: nx.Graph) -> dict[int, np.ndarray]:
        return {v: np.array([float(v % 2), 0.0]) for v in g.nodes}  # nodes on two points

    monkeypatch.setattr(plotting.nx, "kamada_kawai_layout", collapsed)
    pos = plotting.layout(graph)
    np.testing.assert_allclose(
        np.array([pos[v] for v in range(16)]),
        np.array([nx.circular_layout(graph)[v] for v in range(16)]),
    )


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
