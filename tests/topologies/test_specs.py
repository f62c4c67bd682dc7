"""Every spec form resolves: built-in names with parameters, user builders, files, imports, objects."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import topologies

N = 16  # a power of 2 (hypercube) and a square (torus)

#: Parameters a built-in name needs to resolve; everything else works with none.
REQUIRED = {"cycle": "cycle:specs=ring|star"}

PARAMETRIZED = [
    ("torus:rows=2,cols=4", 8),
    ("grid:rows=2,cols=4", 8),
    ("grid:rows=4", 8),
    ("erdos_renyi:p=0.5", 8),
    ("random_regular:d=3", 8),
    ("small_world:k=2,p=0.5", 8),
    ("random_geometric:radius=0.9", 8),
    ("link_failure:base=torus,q=0.2", 8),
    ("link_failure:base=(torus:rows=2,cols=4),q=0.2", 8),
    ("link_failure:base=(erdos_renyi:p=0.5),q=0.2", 8),
    ("cycle:specs=ring|star", 8),
    ("cycle:specs=ring|(torus:rows=2,cols=4)", 8),
    ("cycle:specs=(torus:rows=2,cols=4)|(torus:rows=4,cols=2)", 8),
    ("resampled_erdos_renyi:p=0.3,every=2", 8),
    ("resampled_erdos_renyi:p=0.5,every=2,connected=true", 8),
    ("random_matching:base=torus", 8),
    ("random_matching:base=(grid:rows=2,cols=4)", 8),
    ("random_matching:base=none", 8),
    (" ring : weights = lazy ", 8),
]


@pytest.fixture
def registry() -> Iterator[dict]:
    """The builder registry, restored after the test."""
    saved = dict(topologies.BUILDERS)
    yield topologies.BUILDERS
    topologies.BUILDERS.clear()
    topologies.BUILDERS.update(saved)


def assert_usable(s: topologies.Schedule, n: int, rounds: int = 3) -> None:
    """A schedule of n agents whose first rounds have valid stochastic weights."""
    assert isinstance(s, topologies.Schedule)
    assert s.n == n
    for t in range(rounds):
        g, W = s.graph(t), s.weights(t)
        assert sorted(g.nodes) == list(range(n))
        assert W.shape == (n, n)
        assert topologies.is_nonnegative(W)
        assert topologies.is_row_stochastic(W) or topologies.is_column_stochastic(W)


@pytest.mark.parametrize("name", topologies.names())
def test_every_builtin_name_resolves(name: str) -> None:
    s = topologies.get(REQUIRED.get(name, name), N, seed=1)
    assert_usable(s, N)
    if s.is_static:
        assert topologies.is_connected(s.graph(0))


@pytest.mark.parametrize(("spec", "n"), PARAMETRIZED)
def test_spec_with_parameters_resolves(spec: str, n: int) -> None:
    assert_usable(topologies.get(spec, n, seed=3), n)


def test_parameters_reach_the_builder() -> None:
    assert topologies.get("torus:rows=2,cols=4", 8).graph(0).number_of_edges() == 12
    assert topologies.get("grid:rows=2,cols=4", 8).graph(0).number_of_edges() == 10
    assert set(dict(topologies.get("random_regular:d=3", 8).graph(0).degree()).values()) == {3}
    s = topologies.get("link_failure:base=(torus:rows=2,cols=4),q=0.2", 8, seed=1)
    assert all(set(s.graph(t).edges()) <= set(topologies.torus(8, 2, 4).edges()) for t in range(5))
    s = topologies.get("cycle:specs=ring|star|(torus:rows=2,cols=4)", 8)
    assert s.period == 3
    assert [s.graph(t).number_of_edges() for t in range(3)] == [8, 7, 12]
    assert topologies.get("resampled_erdos_renyi:p=0.3,every=2", 8).every == 2
    assert topologies.get("erdos_renyi:p=1", 6).graph(0).number_of_edges() == 15
    assert topologies.get("complete:weights=(max_degree)", 4).rule == "max_degree"


@pytest.mark.parametrize("rule", sorted(topologies.WEIGHT_RULES))
def test_weights_parameter_for_each_rule(rule: str) -> None:
    spec = {
        "column_stochastic": "exponential",
        "attribute": "one_peer_exponential",
        "best_constant": "hypercube",
    }.get(rule, "ring")
    s = topologies.get(f"{spec}:weights={rule}", 8)
    assert s.rule == rule
    assert_usable(s, 8)
    assert topologies.get(spec, 8, weights=rule).rule == rule
    # The callable form of a rule is accepted by get(weights=...).
    custom = topologies.get("ring", 8, weights=topologies.max_degree_weights)
    assert custom.rule == "max_degree_weights"


def test_split_top_level() -> None:
    assert topologies.split_top_level("a=1,b=(x:y=2,z=3),c=4") == ["a=1", "b=(x:y=2,z=3)", "c=4"]
    assert topologies.split_top_level("ring|(torus:rows=2,cols=4)", "|") == [
        "ring",
        "(torus:rows=2,cols=4)",
    ]
    assert topologies.split_top_level("") == [""]


def test_register_a_user_builder(registry: dict) -> None:
    @topologies.register("test_barbell")
    def barbell(n: int, bridge: int = 0, lazy: bool = False, label: str | None = None) -> nx.Graph:
        assert label in (None, "x")
        return nx.barbell_graph((n - bridge) // 2, bridge)

    assert "test_barbell" in topologies.names()
    assert topologies.get("test_barbell", 8).graph(0).number_of_edges() == 13
    s = topologies.get("test_barbell:bridge=2,lazy=yes,label=x,weights=lazy", 8)
    assert s.graph(0).number_of_edges() == 9 and s.rule == "lazy"
    assert topologies.get("test_barbell:label=none", 8).n == 8
    assert registry["test_barbell"].signature() == "test_barbell:bridge=0,lazy=False,label=None"


def test_register_a_random_time_varying_builder(registry: dict) -> None:
    @topologies.register("test_shifting")
    def shifting(n: int, hop: int = 1, *, seed: int = 0) -> topologies.Schedule:
        def graph(t: int) -> nx.Graph:
            return nx.circulant_graph(n, [1 + (t + seed) % hop])

        return topologies.FromCallable(graph, n=n, seed=seed)

    s = topologies.get("test_shifting:hop=2", 9, seed=1)
    assert not s.is_static
    assert sorted(s.graph(0).neighbors(0)) == [2, 7]
    assert sorted(s.graph(1).neighbors(0)) == [1, 8]


def test_register_overwrite(registry: dict) -> None:
    topologies.register("test_twice")(lambda n: nx.path_graph(n))
    with pytest.raises(topologies.TopologyError, match="already registered; pass overwrite=True"):
        topologies.register("test_twice")(lambda n: nx.cycle_graph(n))
    topologies.register("test_twice", overwrite=True)(lambda n: nx.cycle_graph(n))
    assert topologies.get("test_twice", 5).graph(0).number_of_edges() == 5


def test_register_refuses_bad_names_and_signatures(registry: dict) -> None:
    with pytest.raises(topologies.TopologyError, match="must be an identifier"):
        topologies.register("not a name")
    with pytest.raises(topologies.TopologyError, match="first parameter"):
        topologies.register("test_no_n")(lambda k: nx.path_graph(k))
    assert "test_no_n" not in registry


def write_graph_files(graph: nx.Graph, folder: Path) -> dict[str, Path]:
    """``graph`` in every supported format."""
    files = {
        "edgelist": folder / "g.edgelist",
        "edges": folder / "g.edges",
        "adjlist": folder / "g.adjlist",
        "graphml": folder / "g.graphml",
        "gml": folder / "g.gml",
        "json": folder / "g.json",
        "json_edges": folder / "g_edges.json",
    }
    nx.write_edgelist(graph, files["edgelist"], data=False)
    nx.write_edgelist(graph, files["edges"], data=False)
    nx.write_adjlist(graph, files["adjlist"])
    nx.write_graphml(graph, files["graphml"])
    nx.write_gml(graph, files["gml"])
    files["json"].write_text(json.dumps(nx.node_link_data(graph, edges="links")))
    files["json_edges"].write_text(json.dumps(nx.node_link_data(graph, edges="edges")))
    return files


@pytest.mark.parametrize(
    "fmt", ["edgelist", "edges", "adjlist", "graphml", "gml", "json", "json_edges"]
)
def test_graph_file_of_every_format(fmt: str, tmp_path: Path) -> None:
    graph = topologies.torus(8, 2, 4)
    path = write_graph_files(graph, tmp_path)[fmt]
    s = topologies.get(str(path), 8)
    assert s.is_static and s.name == path.name
    assert sorted(s.graph(0).edges()) == sorted(graph.edges())
    assert topologies.get(path, 8).graph(0).number_of_edges() == 12  # an os.PathLike works too
    assert topologies.read_graph(path).number_of_nodes() == 8


@pytest.mark.parametrize("fmt", ["graphml", "gml", "json"])
def test_directed_and_weighted_files_keep_their_attributes(fmt: str, tmp_path: Path) -> None:
    graph = topologies.get("one_peer_exponential", 8).graph(0)  # a directed ring with self-loops
    path = write_graph_files(graph, tmp_path)[fmt]
    s = topologies.get(f"{path}", 8, weights="attribute")
    assert s.directed
    np.testing.assert_allclose(
        s.dense(0), topologies.get("one_peer_exponential", 8).dense(0), atol=1e-15
    )


def test_weighted_three_column_edgelist(tmp_path: Path) -> None:
    graph = nx.cycle_graph(6)
    nx.set_edge_attributes(graph, 0.25, "weight")
    path = tmp_path / "w.edgelist"
    nx.write_weighted_edgelist(graph, path)
    s = topologies.get(str(path), 6, weights="attribute")
    W = s.dense(0)
    assert W[0, 1] == 0.25 and W[0, 0] == 0.5
    assert topologies.is_doubly_stochastic(W)
    assert topologies.get(str(path), 6).rule == "metropolis"


def test_graph_file_with_weights_in_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = topologies.torus(8, 2, 4)
    nx.set_edge_attributes(graph, 0.125, "weight")
    files = write_graph_files(graph, tmp_path)
    s = topologies.get(f"{files['edgelist']}:weights=max_degree", 8)
    assert s.is_static and s.rule == "max_degree" and s.name == "g.edgelist"
    np.testing.assert_allclose(
        s.dense(0), topologies.get("torus:rows=2,cols=4", 8, weights="max_degree").dense(0)
    )
    assert topologies.get(f"{files['graphml']}:weights=(lazy)", 8).rule == "lazy"
    attribute = topologies.get(f"{files['gml']}:weights=attribute", 8)
    assert attribute.dense(0)[0, 1] == 0.125
    # A relative path, an empty parameter list, and get's keyword overriding the spec.
    monkeypatch.chdir(tmp_path)
    assert topologies.get("g.edgelist:", 8).rule == "metropolis"
    assert topologies.get("g.edgelist:weights=lazy", 8, weights="max_degree").rule == "max_degree"


def test_edgelist_with_labels_one_to_n_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "one_based.edgelist"
    path.write_text("# a ring on 1..4\n1 2\n2 3\n3 4\n4 1  # closes the ring\n")
    s = topologies.get(str(path), 4)
    assert sorted(s.graph(0).edges()) == [(0, 1), (0, 3), (1, 2), (2, 3)]


USER_MODULE = """
import networkx as nx

CAMPUS = nx.cycle_graph(8)
ROUNDS = [nx.cycle_graph(8), nx.star_graph(7)]


def plain():
    return nx.cycle_graph(8)


def sized(n):
    return nx.cycle_graph(n)


def seeded(n, seed):
    return nx.random_regular_graph(4, n, seed=seed)


def varying(t):
    return nx.cycle_graph(8) if t % 2 == 0 else nx.star_graph(7)


def varying_sized(t, n, seed):
    return nx.circulant_graph(n, [1 + (t + seed) % 3])


def schedule(n):
    import topologies

    return topologies.OnePeerExponential(n)
"""


@pytest.fixture
def user_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``concord_user_graphs.wiring`` and a plain file ``wiring.py`` in ``tmp_path``."""
    package = tmp_path / "concord_user_graphs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "wiring.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "wiring.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("concord_user_graphs", "concord_user_graphs.wiring"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


@pytest.mark.parametrize("form", ["module", "file", "relative_file"])
def test_import_specs(form: str, user_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(user_package)
    prefix = {
        "module": "concord_user_graphs.wiring",
        "file": str(user_package / "wiring.py"),
        "relative_file": "./wiring.py",
    }[form]

    def get(attr: str, n: int = 8, seed: int = 0) -> topologies.Schedule:
        return topologies.get(f"{prefix}:{attr}", n, seed=seed)

    assert get("plain").is_static and get("plain").graph(0).number_of_edges() == 8
    assert get("sized", 10).graph(0).number_of_edges() == 10
    assert get("CAMPUS").name == "CAMPUS"
    assert get("ROUNDS").period == 2
    seeded = [sorted(get("seeded", 12, seed).graph(0).edges()) for seed in (0, 0, 1)]
    assert seeded[0] == seeded[1] != seeded[2]
    varying = get("varying")
    assert not varying.is_static
    assert [varying.graph(t).number_of_edges() for t in range(3)] == [8, 7, 8]
    varying_sized = get("varying_sized", 9, seed=1)
    assert sorted(varying_sized.graph(0).neighbors(0)) == [2, 7]
    assert sorted(varying_sized.graph(2).neighbors(0)) == [1, 8]
    assert get("schedule", 8).period == 3
    # weights= after module:function, the only parameter it takes.
    lazy = get("plain:weights=lazy")
    assert lazy.is_static and lazy.rule == "lazy" and lazy.name == "plain"
    varying = get("varying:weights=max_degree")
    assert not varying.is_static and varying.rule == "max_degree"
    assert varying.dense(1)[0, 1] == pytest.approx(1 / 8)  # the star's max degree is 7
    assert get("ROUNDS:weights=(lazy)").rule == "lazy"


def test_module_named_like_a_graph_file_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "concord_user_net"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "edges.py").write_text(
        "import networkx as nx\n\ndef ring(n):\n    return nx.cycle_graph(n)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("concord_user_net", "concord_user_net.edges"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert topologies.get("concord_user_net.edges:ring", 6).graph(0).number_of_edges() == 6
    s = topologies.get("concord_user_net.edges:ring:weights=lazy", 6)
    assert s.rule == "lazy"


def test_objects_passed_directly() -> None:
    ring = nx.cycle_graph(8)
    s = topologies.get(ring, 8)
    assert s.is_static and s.name == "the given graph"
    s = topologies.get([nx.cycle_graph(8), nx.star_graph(7)], 8)
    assert s.period == 2
    s = topologies.get((nx.cycle_graph(8),), 8)
    assert s.graph(5).number_of_edges() == 8
    # A list of one graph is that graph: static, checked for connectivity.
    s = topologies.get([nx.cycle_graph(8)], 8)
    assert isinstance(s, topologies.StaticSchedule) and s.is_static and s.period == 1
    assert s.name == "the given graph"

    def alternate(t: int) -> nx.Graph:
        return nx.cycle_graph(8) if t % 2 else nx.path_graph(8)

    s = topologies.get(alternate, 8)
    assert not s.is_static and s.name == "alternate"
    assert [s.graph(t).number_of_edges() for t in range(2)] == [7, 8]
    assert topologies.get(lambda: nx.cycle_graph(8), 8).is_static
    assert topologies.get(lambda n: nx.cycle_graph(n), 5).graph(0).number_of_edges() == 5
    sched = topologies.get("random_matching", 8)
    assert topologies.get(sched, 8) is sched
    assert topologies.get(sched, 8, weights="lazy").rule == "lazy"


def test_directed_graph_defaults_to_column_stochastic() -> None:
    s = topologies.get(nx.DiGraph(nx.cycle_graph(5, create_using=nx.DiGraph)), 5)
    assert s.rule == "column_stochastic"
    assert topologies.is_column_stochastic(s.weights(0))


def test_multigraph_is_collapsed() -> None:
    graph = nx.MultiGraph(nx.cycle_graph(6))
    graph.add_edge(0, 1)
    s = topologies.get(graph, 6)
    assert s.graph(0).number_of_edges() == 6


def test_string_integer_labels_and_one_based_labels() -> None:
    as_strings = nx.relabel_nodes(nx.cycle_graph(5), str)
    assert sorted(topologies.get(as_strings, 5).graph(0).edges()) == sorted(
        nx.cycle_graph(5).edges()
    )
    one_based = nx.relabel_nodes(nx.path_graph(4), lambda v: v + 1)
    assert sorted(topologies.normalize_labels(one_based, 4).edges()) == [(0, 1), (1, 2), (2, 3)]


def test_specs_grammar_resolves_any_registry_with_the_callers_error() -> None:
    """The grammar topologies use, reused for a registry of dataclasses (as --layer-parallel does)."""
    from dataclasses import dataclass
    from typing import Literal

    from topologies.specs_grammar import Signature, resolve

    class MyError(ValueError):
        pass

    @dataclass(frozen=True)
    class Pipeline:
        microbatches: int = 4
        schedule: Literal["gpipe", "1f1b"] = "1f1b"
        sizes: tuple[float, ...] = (0.5, 0.5)
        every: int | None = None

    def penalty(stages: int, rho: float, *, seed: int = 0) -> tuple[int, float, int]:
        return stages, rho, seed

    registry = {"pipeline": Pipeline, "penalty": penalty}
    got = resolve("pipeline:microbatches=8,sizes=0.25-0.75,every=none", registry, what="method")
    assert got == Pipeline(8, "1f1b", (0.25, 0.75), None)
    assert resolve("penalty:rho=2", registry, what="method", args=(3,), inject={"seed": 7}) == (
        3,
        2.0,
        7,
    )
    assert Signature.of("pipeline", Pipeline).signature() == (
        "pipeline:microbatches=4,schedule=1f1b,sizes=0.5-0.5,every=None"
    )
    cases = {
        "pipelin": "unknown method 'pipelin'; did you mean 'pipeline'? known: penalty, pipeline",
        "pipeline:schedule=gpip": "pipeline: parameter schedule='gpip' is not one of gpipe, 1f1b; "
        "did you mean 'gpipe'? give e.g. schedule=gpipe",
        "pipeline:microbatch=2": "did you mean 'microbatches'?",
        "pipeline:microbatches=x": "pipeline: parameter microbatches='x' is not a valid int",
        "penalty": "penalty: missing parameter 'rho'; write e.g. penalty:rho=<float>",
    }
    for spec, message in cases.items():
        with pytest.raises(MyError) as info:
            args = (2,) if spec.startswith("penalty") else ()
            resolve(spec, registry, what="method", error=MyError, args=args)
        assert message in str(info.value), spec
