"""Plots: draw, draw_rounds and plot_spectral_gap write non-empty PNG files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import networkx as nx
import pytest

import topologies

matplotlib.use("Agg")  # no display needed
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
