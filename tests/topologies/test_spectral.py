"""Spectral gaps against closed forms, window products, and the sparse (Lanczos) path."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import topologies
import topologies.spectral as spectral


def ring_metropolis_gap(n: int) -> float:
    """Closed form: Metropolis weights on a ring are 1/3 everywhere, eigenvalues 1/3 + 2/3 cos(2 pi k / n)."""
    return 1.0 - (1.0 / 3.0 + (2.0 / 3.0) * math.cos(2.0 * math.pi / n))


@pytest.mark.parametrize("n", range(3, 101))
def test_ring_metropolis_gap_closed_form(n: int) -> None:
    W = topologies.get("ring", n).weights(0)
    assert abs(topologies.spectral_gap(W) - ring_metropolis_gap(n)) < 1e-12


def test_ring_gap_from_graph_and_dense_input() -> None:
    W = topologies.metropolis_weights(nx.cycle_graph(10))
    assert topologies.spectral_gap(W.toarray()) == pytest.approx(ring_metropolis_gap(10), abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 33])
def test_complete_graph_gap_is_one(n: int) -> None:
    W = topologies.get("complete", n).weights(0)
    np.testing.assert_allclose(W.toarray(), np.full((n, n), 1.0 / n), atol=1e-12)
    assert topologies.spectral_gap(W) == pytest.approx(1.0, abs=1e-12)


def test_identity_does_not_mix() -> None:
    assert topologies.spectral_gap(sp.eye_array(6, format="csr")) == pytest.approx(0.0, abs=1e-12)


def test_gap_ordering_of_classic_graphs() -> None:
    gap = {
        name: topologies.spectral_gap(topologies.get(name, 16).weights(0))
        for name in ("path", "ring", "torus", "hypercube", "complete")
    }
    # Q4 is C4 x C4: the 4 x 4 torus and the 16-node hypercube are the same graph, so their
    # gaps agree only up to rounding (0.3999999999999999 against 0.3999999999999998).
    assert gap["torus"] == pytest.approx(gap["hypercube"], abs=1e-12)
    assert gap["path"] < gap["ring"] < gap["torus"] < gap["complete"]
    assert gap["hypercube"] < gap["complete"]


@pytest.mark.parametrize("k", range(1, 7))
def test_one_peer_window_contraction_is_zero(k: int) -> None:
    n = 2**k
    s = topologies.get("one_peer_exponential", n)
    for start in (0, 1, 5, 17):
        assert topologies.window_contraction(s, start=start, length=k) < 1e-12
    if k > 1:  # a shorter window does not average
        assert topologies.window_contraction(s, start=0, length=k - 1) > 0.5


def test_product_order_first_matrix_applied_first() -> None:
    A = np.array([[1.0, 0.0], [1.0, 0.0]])
    B = np.array([[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(topologies.product([A, B]).toarray(), B @ A)
    np.testing.assert_allclose(topologies.product([A]).toarray(), A)


def test_sparse_lanczos_path_matches_closed_form_on_large_ring() -> None:
    n = 3000  # above the dense limit: eigsh on the centered operator
    assert n > spectral._DENSE_LIMIT
    W = topologies.metropolis_weights(nx.cycle_graph(n))
    assert abs(topologies.spectral_gap(W) - ring_metropolis_gap(n)) < 1e-10


def _matrices() -> list[sp.csr_array]:
    graph = nx.gnp_random_graph(120, 0.08, seed=3)
    graph.add_edges_from(nx.path_graph(120).edges())
    digraph = nx.gnp_random_graph(120, 0.08, seed=4, directed=True)
    digraph.add_edges_from(nx.cycle_graph(120, create_using=nx.DiGraph).edges())
    return [
        topologies.metropolis_weights(graph),  # symmetric: eigsh
        topologies.column_stochastic_weights(digraph),  # non-symmetric: svds
        topologies.product(
            [topologies.get("one_peer_exponential", 128).weights(t) for t in range(3)]
        ),
    ]


@pytest.mark.parametrize("index", range(3))
def test_sparse_path_agrees_with_dense(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    W = _matrices()[index]
    dense = topologies.spectral_gap(W)
    monkeypatch.setattr(spectral, "_DENSE_LIMIT", 16)
    assert abs(topologies.spectral_gap(W) - dense) < 1e-9


def test_dense_path_equals_norm_of_w_minus_j() -> None:
    W = topologies.get("erdos_renyi:p=0.4", 20, seed=5).dense(0)
    expected = 1.0 - np.linalg.norm(W - np.full_like(W, 1 / 20), 2)
    assert topologies.spectral_gap(W) == pytest.approx(expected, abs=1e-12)


def test_spectral_gaps_table_has_nan_where_spec_does_not_fit() -> None:
    gaps = topologies.spectral_gaps(["ring", "hypercube"], [6, 8])
    assert gaps["ring"][0] == pytest.approx(ring_metropolis_gap(6))
    assert math.isnan(gaps["hypercube"][0])
    assert gaps["hypercube"][1] == pytest.approx(0.5)


def test_four_by_four_torus_gap_is_two_fifths() -> None:
    # Metropolis on the 4 x 4 torus: every weight is 1/5, eigenvalues 1/5 + 2/5 (cos a + cos b)
    # over a, b in {0, pi/2, pi, 3 pi/2}; the largest modulus below 1 is 3/5 (the README's value).
    W = topologies.get("torus:rows=4,cols=4", 16).weights(0)
    assert topologies.spectral_gap(W) == pytest.approx(0.4, abs=1e-12)


def test_disconnected_gap_is_exactly_zero() -> None:
    two = nx.disjoint_union(nx.cycle_graph(4), nx.cycle_graph(4))
    gap = topologies.spectral_gap(topologies.metropolis_weights(two))
    assert gap == 0.0 and str(gap) == "0.0" and f"{gap:.3f}" == "0.000"
    matching = topologies.get("random_matching", 8, seed=0)
    assert all(topologies.spectral_gap(matching.weights(t)) == 0.0 for t in range(8))
    # A real negative gap (W mixes worse than not at all) is not clamped.
    assert topologies.spectral_gap(np.array([[2.0, -1.0], [-1.0, 2.0]])) == pytest.approx(-2.0)
