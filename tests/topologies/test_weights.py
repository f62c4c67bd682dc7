"""Weight rules keep their stated stochasticity on random graphs (hypothesis property tests)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import topologies

SETTINGS = settings(max_examples=50, deadline=None)


def connected_graph(n: int, seed: int, p: float) -> nx.Graph:
    """A random spanning tree on ``0..n-1`` plus G(n, p) edges: always connected."""
    gen = np.random.default_rng(seed)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    order = gen.permutation(n).tolist()
    for k in range(1, n):
        graph.add_edge(order[k], order[int(gen.integers(k))])
    graph.add_edges_from(nx.gnp_random_graph(n, p, seed=seed).edges())
    return graph


@st.composite
def connected_graphs(draw: st.DrawFn, min_n: int = 2, max_n: int = 40) -> nx.Graph:
    """Hypothesis strategy: a random connected undirected graph."""
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.floats(0.0, 0.6))
    return connected_graph(n, seed, p)


@st.composite
def directed_graphs(draw: st.DrawFn) -> nx.DiGraph:
    """Hypothesis strategy: a random directed graph (not necessarily strongly connected)."""
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.floats(0.0, 0.6))
    return nx.gnp_random_graph(n, p, seed=seed, directed=True)


def assert_symmetric_doubly_stochastic(W: sp.sparray) -> None:
    """Symmetric, rows and columns summing to one."""
    assert topologies.is_symmetric(W)
    assert topologies.is_doubly_stochastic(W)
    assert topologies.is_row_stochastic(W) and topologies.is_column_stochastic(W)


def assert_support_within_graph(W: sp.sparray, graph: nx.Graph) -> None:
    """Nonzero off-diagonal entries only where the graph has an edge (j -> i gives w_ij)."""
    coo = sp.coo_array(W)
    for i, j, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True):
        if i != j and abs(w) > 0:
            assert graph.has_edge(j, i), (i, j, w)


@SETTINGS
@given(connected_graphs())
def test_metropolis_is_symmetric_doubly_stochastic_with_positive_diagonal(graph: nx.Graph) -> None:
    W = topologies.metropolis_weights(graph)
    assert W.shape == (graph.number_of_nodes(),) * 2
    assert_symmetric_doubly_stochastic(W)
    assert topologies.is_nonnegative(W)
    assert topologies.has_positive_diagonal(W)
    assert_support_within_graph(W, graph)
    deg = dict(graph.degree())
    for u, v in graph.edges():
        assert W[u, v] == pytest.approx(1.0 / (1 + max(deg[u], deg[v])), abs=1e-15)


@SETTINGS
@given(connected_graphs(), st.sampled_from(["metropolis", "max_degree", "lazy"]))
def test_nonnegative_symmetric_rules(graph: nx.Graph, rule: str) -> None:
    W = topologies.WEIGHT_RULES[rule](graph)
    assert_symmetric_doubly_stochastic(W)
    assert topologies.is_nonnegative(W)
    assert topologies.has_positive_diagonal(W)
    assert_support_within_graph(W, graph)
    assert {
        "row_stochastic",
        "column_stochastic",
        "doubly_stochastic",
        "symmetric",
        "nonnegative",
        "positive_diagonal",
    } <= topologies.weight_properties(W)


@SETTINGS
@given(connected_graphs())
def test_lazy_is_half_identity_plus_half_metropolis(graph: nx.Graph) -> None:
    n = graph.number_of_nodes()
    W = topologies.metropolis_weights(graph).toarray()
    L = topologies.lazy_metropolis_weights(graph).toarray()
    # Diagonals are remainders 1 - sum(row), rounded differently along each path.
    np.testing.assert_allclose(L, 0.5 * (np.eye(n) + W), atol=1e-12)
    np.testing.assert_allclose(topologies.lazy(sp.csr_array(W)).toarray(), L, atol=1e-12)
    assert np.linalg.eigvalsh(L).min() >= -1e-12


@SETTINGS
@given(connected_graphs())
def test_best_constant_is_symmetric_doubly_stochastic(graph: nx.Graph) -> None:
    W = topologies.best_constant_weights(graph)
    assert_symmetric_doubly_stochastic(W)
    assert_support_within_graph(W, graph)
    # It is the best constant edge weight: at least as good as max-degree weights.
    gap = topologies.spectral_gap(W)
    assert gap >= topologies.spectral_gap(topologies.max_degree_weights(graph)) - 1e-9


def test_best_constant_can_be_negative_on_irregular_graphs() -> None:
    W = topologies.best_constant_weights(nx.star_graph(7))
    assert_symmetric_doubly_stochastic(W)
    assert not topologies.is_nonnegative(W)


def test_best_constant_sparse_eigenvalue_path_on_large_ring() -> None:
    n = 1500  # above best_constant's dense limit: eigsh with shift-invert
    W = topologies.best_constant_weights(nx.cycle_graph(n))
    lam2, lamn = 2.0 - 2.0 * math.cos(2.0 * math.pi / n), 4.0
    assert W[0, 1] == pytest.approx(2.0 / (lam2 + lamn), abs=1e-9)
    assert_symmetric_doubly_stochastic(W)


@SETTINGS
@given(directed_graphs())
def test_column_stochastic_on_directed_graphs(graph: nx.DiGraph) -> None:
    W = topologies.column_stochastic_weights(graph)
    assert topologies.is_column_stochastic(W)
    assert topologies.is_nonnegative(W)
    assert topologies.has_positive_diagonal(W)
    assert_support_within_graph(W, graph)
    out_deg = dict(graph.out_degree())
    for i in graph.nodes:
        assert W[i, i] == pytest.approx(1.0 / (out_deg[i] + 1))


@SETTINGS
@given(connected_graphs(), st.booleans())
def test_attribute_reproduces_symmetric_weights(graph: nx.Graph, loops: bool) -> None:
    W = topologies.metropolis_weights(graph)
    weighted = nx.Graph()
    weighted.add_nodes_from(graph.nodes)
    weighted.add_weighted_edges_from((u, v, float(W[u, v])) for u, v in graph.edges())
    if loops:  # explicit self-weights; otherwise the diagonal is the remainder
        weighted.add_weighted_edges_from((i, i, float(W[i, i])) for i in graph.nodes)
    A = topologies.attribute_weights(weighted)
    np.testing.assert_allclose(A.toarray(), W.toarray(), atol=1e-12)


@SETTINGS
@given(directed_graphs(), st.integers(0, 2**32 - 1))
def test_attribute_reproduces_directed_weights(graph: nx.DiGraph, seed: int) -> None:
    n = graph.number_of_nodes()
    gen = np.random.default_rng(seed)
    W = np.zeros((n, n))
    for u, v in graph.edges():  # edge u -> v: agent v puts weight on u's value
        W[v, u] = gen.uniform(0.1, 1.0)
    W += np.eye(n)
    W /= W.sum(axis=1, keepdims=True)
    weighted = nx.DiGraph()
    weighted.add_nodes_from(range(n))
    weighted.add_weighted_edges_from((u, v, W[v, u]) for u, v in graph.edges())
    weighted.add_weighted_edges_from((i, i, W[i, i]) for i in range(n))
    A = topologies.attribute_weights(weighted)
    np.testing.assert_allclose(A.toarray(), W, atol=1e-12)
    assert topologies.is_row_stochastic(A)


def test_attribute_custom_key_and_remainder_diagonal() -> None:
    graph = nx.Graph()
    graph.add_edge(0, 1, w=0.25)
    graph.add_edge(1, 2, w=0.5)
    A = topologies.attribute_weights(graph, key="w").toarray()
    np.testing.assert_allclose(
        A, [[0.75, 0.25, 0.0], [0.25, 0.25, 0.5], [0.0, 0.5, 0.5]], atol=1e-15
    )


@pytest.mark.parametrize("rule", ["metropolis", "max_degree", "lazy", "best_constant"])
def test_symmetric_rules_refuse_directed_graphs(rule: str) -> None:
    with pytest.raises(topologies.TopologyError, match="column_stochastic"):
        topologies.WEIGHT_RULES[rule](topologies.exponential(8))


def test_exponential_graph_uniform_weights_are_doubly_stochastic() -> None:
    W = topologies.get("exponential", 16).weights(0)
    assert topologies.is_doubly_stochastic(W)
    assert not topologies.is_symmetric(W)


@pytest.mark.parametrize("rule", sorted(set(topologies.WEIGHT_RULES) - {"attribute"}))
def test_every_rule_through_a_spec(rule: str) -> None:
    spec = "exponential" if rule == "column_stochastic" else "torus"
    s = topologies.get(f"{spec}:weights={rule}", 16)
    assert s.rule == rule
    assert topologies.is_row_stochastic(s.weights(0)) or topologies.is_column_stochastic(
        s.weights(0)
    )


def test_weights_keyword_overrides_the_spec() -> None:
    s = topologies.get("torus:weights=max_degree", 16, weights="lazy")
    assert s.rule == "lazy"
    assert s.weights(0)[0, 0] == pytest.approx(0.5 + 0.5 / 5)


def test_check_weights_names_the_failing_entry() -> None:
    W = np.array([[0.5, 0.5, 0.0], [0.5, 0.25, 0.25], [0.1, 0.25, 0.65]])
    topologies.check_weights(W, ["row_stochastic", "nonnegative", "positive_diagonal"])
    with pytest.raises(topologies.TopologyError, match=r"column 0 sums to 1\.1"):
        topologies.check_weights(W, ["doubly_stochastic"])
    with pytest.raises(topologies.TopologyError, match=r"w\[0,2\]=0 but w\[2,0\]=0\.1"):
        topologies.check_weights(W, ["symmetric"])
    with pytest.raises(topologies.TopologyError, match="unknown weight property 'psd'"):
        topologies.check_weights(W, ["psd"])
    with pytest.raises(topologies.TopologyError, match=r"w\[1,1\]=0 is not positive"):
        topologies.check_weights(np.array([[0.5, 0.5], [1.0, 0.0]]), ["positive_diagonal"])
