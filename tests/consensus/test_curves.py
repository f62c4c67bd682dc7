"""curves.png and topology.png of a results directory: MB on the bytes axis, a title naming the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
from PIL import Image

import topologies
from consensus.runtime import results

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def fake_run(folder: Path, *, accuracy: bool = True) -> Path:
    """A results directory with a config.json and three evaluations, written by hand."""
    folder.mkdir()
    config = {"agents": 8, "dataset": "digits", "model": "mlp", "rounds": 40, "topology": "ring"}
    (folder / "config.json").write_text(json.dumps(config))
    for t, sent in ((0, 0), (20, 2_500_000), (40, 5_000_000)):
        row = {"round": t, "bytes_per_agent": sent, "loss": 1.0 / (t + 1), "consensus_error": 0.1}
        row["test_accuracy" if accuracy else "test_mse"] = 0.5 + t / 100
        results.append_metrics(folder, row)
    return folder


def test_bytes_axis_is_in_megabytes(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "next-ring-n8-s0")
    fig = results.curves_figure([run], labels=["next on ring"])
    bottom = fig.axes[3:]
    assert [ax.get_xlabel() for ax in bottom] == ["MB sent per agent"] * 3
    for ax in bottom:
        assert list(ax.get_lines()[0].get_xdata()) == [0.0, 2.5, 5.0]
    assert [ax.get_xlabel() for ax in fig.axes[:3]] == ["round"] * 3


def test_title_names_the_run(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "next-ring-n8-s0")
    fig = results.curves_figure([run], labels=["next on ring"])
    assert fig.get_suptitle() == "next on ring: 8 agents, digits, mlp, 40 rounds, next-ring-n8-s0"
    other = fake_run(tmp_path / "dsgd-ring-n8-s0", accuracy=False)
    fig = results.curves_figure([run, other])
    assert fig.get_suptitle() == "2 runs: next-ring-n8-s0, dsgd-ring-n8-s0"
    assert results.curves_figure([run], title="mine").get_suptitle() == "mine"


def test_plot_runs_writes_the_png(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "run")
    path = results.plot_runs([run], tmp_path / "curves.png")
    assert Image.open(path).size[0] > 1000


def test_topology_png_of_a_periodic_schedule_shows_one_period(tmp_path: Path) -> None:
    results.draw_topology(topologies.get("one_peer_exponential", 8), tmp_path / "one.png")
    results.draw_topology(topologies.get("link_failure:base=torus,q=0.3", 16), tmp_path / "lf.png")
    one, flaky = Image.open(tmp_path / "one.png"), Image.open(tmp_path / "lf.png")
    # Three rounds (the period) against four: the figure is about 3/4 as wide.
    assert one.size[0] / flaky.size[0] == pytest.approx(3 / 4, abs=0.05)


def test_a_run_with_one_evaluation_shows_a_point(tmp_path: Path) -> None:
    run = tmp_path / "short"
    run.mkdir()
    results.append_metrics(
        run, {"round": 20, "bytes_per_agent": 1e6, "loss": 1.0, "consensus_error": 0.1, "test_accuracy": 0.8}
    )  # fmt: skip
    fig = results.curves_figure([run])
    assert all(ax.get_lines()[0].get_marker() == "o" for ax in fig.axes)
