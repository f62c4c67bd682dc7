"""What a spec leaves implicit is said and recorded: torus shapes, graph-file sizes, node names."""

from __future__ import annotations

import warnings
from pathlib import Path

import networkx as nx
import pytest

import topologies


def test_a_torus_of_a_prime_number_of_agents_warns_that_it_is_a_ring() -> None:
    with pytest.warns(
        topologies.TopologyWarning, match=r"torus: 7 agents factor only as 1 x 7"
    ) as got:
        schedule = topologies.get("torus", 7)
    message = str(got[0].message)
    assert "is a ring" in message and "6 or 8 agents" in message and "\n" not in message
    assert schedule.details == {"shape": [1, 7]} and schedule.name == "torus (1 x 7)"
    with pytest.warns(topologies.TopologyWarning, match="this grid is a path"):
        topologies.get("grid", 11)


def test_no_warning_when_the_shape_is_two_dimensional_or_asked_for() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert topologies.get("torus", 8).details == {"shape": [2, 4]}
        explicit = topologies.get("torus:rows=1,cols=7", 7)
        assert explicit.details == {"shape": [1, 7]} and explicit.name == "torus:rows=1,cols=7"
        assert topologies.get("grid:rows=3", 12).name == "grid:rows=3 (3 x 4)"
        assert topologies.get("ring", 7).details == {}


def test_the_chosen_shape_is_in_the_name() -> None:
    assert topologies.get("torus", 16).name == "torus (4 x 4)"
    assert topologies.get("torus:weights=lazy", 12).name == "torus:weights=lazy (3 x 4)"


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_edge_list_with_named_nodes_is_numbered_in_natural_order(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(12)]
    ring = "".join(f"{names[i]} {names[(i + 1) % 12]}\n" for i in range(12))
    path = _write(tmp_path / "named.edgelist", ring)
    assert topologies.fixed_agents(path) == 12
    schedule = topologies.get(path, 12)
    assert schedule.details["node_labels"] == {f"n{i}": i for i in range(12)}  # n2 < n10
    assert sorted(schedule.graph(0).edges()) == sorted(
        tuple(sorted((i, (i + 1) % 12))) for i in range(12)
    )


def test_adjacency_list_and_graphml_with_words(tmp_path: Path) -> None:
    path = _write(tmp_path / "office.adjlist", "bob alice carol\nalice carol\n")
    schedule = topologies.get(path, 3)
    assert schedule.details["node_labels"] == {"alice": 0, "bob": 1, "carol": 2}
    graphml = tmp_path / "g.graphml"
    nx.write_graphml(nx.relabel_nodes(nx.cycle_graph(4), lambda i: f"v{i}"), graphml)
    assert topologies.get(str(graphml), 4).details["node_labels"] == {f"v{i}": i for i in range(4)}


def test_fixed_agents_only_for_graph_files(tmp_path: Path) -> None:
    path = tmp_path / "five.edgelist"
    nx.write_edgelist(nx.cycle_graph(5), path, data=False)
    assert topologies.fixed_agents(f"{path}:weights=max_degree") == 5
    assert topologies.fixed_agents("torus:rows=2,cols=4") is None
    assert topologies.fixed_agents(nx.cycle_graph(3)) is None
