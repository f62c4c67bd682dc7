"""The in-process mixer: averages preserved, dense and sparse agree, push-sum on a directed graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import topologies
from consensus.mixers import InProcessMixer
from consensus.mixers.product import GossipProduct


@settings(max_examples=25, deadline=None)
@given(
    spec=st.sampled_from(
        ["ring", "torus", "erdos_renyi:p=0.4", "random_matching", "link_failure:base=torus,q=0.3"]
    ),
    n=st.integers(min_value=2, max_value=40),
    t=st.integers(min_value=0, max_value=500),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_mixing_preserves_the_average_under_doubly_stochastic_weights(
    spec: str, n: int, t: int, seed: int
) -> None:
    mixer = InProcessMixer(topologies.get(spec, n, seed=seed), dtype=torch.float64)
    x = torch.randn(n, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    (y,) = mixer.mix(t, x)
    torch.testing.assert_close(y.mean(0), x.mean(0), rtol=0, atol=1e-12)


def test_dense_and_sparse_products_agree() -> None:
    schedule = topologies.get("random_regular:d=4", 300, seed=1)
    sparse = InProcessMixer(schedule, dtype=torch.float64)
    x = torch.randn(300, 5, dtype=torch.float64)
    dense = torch.as_tensor(schedule.dense(0)) @ x
    product = sparse.matrix(0)[0]
    assert product.sparse  # 5 nonzeros a row of 300
    assert sum(t.numel() for t in product.tensors()) == 2 * 1500 + 300  # indices, weights, offsets
    torch.testing.assert_close(sparse.mix(0, x)[0], dense, rtol=0, atol=1e-12)
    assert not InProcessMixer(topologies.get("complete", 20)).matrix(0)[0].sparse


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=30),
    cols=st.integers(min_value=1, max_value=30),
    density=st.floats(min_value=0.0, max_value=1.0),
    width=st.integers(min_value=1, max_value=9),
    sparse=st.sampled_from([True, False, None]),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_gossip_product_is_the_matrix_product(
    rows: int, cols: int, density: float, width: int, sparse: bool | None, seed: int
) -> None:
    """Both kernels, any pattern (empty rows and columns included), rectangular blocks of rows."""
    rng = np.random.default_rng(seed)
    W = sp.random_array((rows, cols), density=density, format="csr", rng=rng)
    x = torch.as_tensor(rng.standard_normal((cols, width)))
    got = GossipProduct(W, dtype=torch.float64, sparse=sparse)(x)
    torch.testing.assert_close(got, torch.as_tensor(W.toarray()) @ x, rtol=1e-12, atol=1e-12)


def test_mix_of_several_tensors_equals_separate_mixes() -> None:
    mixer = InProcessMixer(topologies.get("ring", 6), dtype=torch.float64)
    a, b = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, 2, dtype=torch.float64)
    ma, mb = mixer.mix(0, a, b)
    torch.testing.assert_close(ma, mixer.mix(0, a)[0])
    torch.testing.assert_close(mb, mixer.mix(0, b)[0])
    assert mb.shape == b.shape


def test_bytes_count_neighbours_times_payload() -> None:
    mixer = InProcessMixer(topologies.get("ring", 8), dtype=torch.float32)
    mixer.mix(0, torch.zeros(8, 10), torch.zeros(8, 6))
    assert mixer.bytes_sent == pytest.approx(2 * 16 * 4)


def _directed_irregular(n: int = 9) -> nx.DiGraph:
    graph = nx.DiGraph([(i, (i + 1) % n) for i in range(n)])
    graph.add_edges_from([(0, 3), (0, 5), (2, 6), (4, 1), (7, 2), (0, 7)])
    return graph


def test_push_sum_reaches_the_average_on_a_directed_irregular_graph() -> None:
    schedule = topologies.get(_directed_irregular(), 9)
    assert schedule.directed and schedule.rule == "column_stochastic"
    W = schedule.weights(0)
    assert not topologies.is_row_stochastic(W), "plain gossip would not reach the average here"
    mixer = InProcessMixer(schedule, dtype=torch.float64)
    u = torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    target = u.mean(0)
    v = torch.ones(9, 1, dtype=torch.float64)
    for t in range(300):
        u, v = mixer.mix(t, u, v)
    torch.testing.assert_close(u / v, target.expand(9, 4), rtol=0, atol=1e-10)


def test_push_sum_algorithm_is_exact_on_a_directed_graph() -> None:
    import consensus

    ref = consensus.train(
        "complete", "centralized", agents=9, dataset="wine", model="logistic", rounds=800, batch_size=0,
        reg="l2:0.1", dtype="float64", eval_every=800, lr=0.4,
    )  # fmt: skip
    got = consensus.train(
        _directed_irregular(), "push_sum", agents=9, dataset="wine", model="logistic", rounds=2500, batch_size=0,
        reg="l2:0.1", dtype="float64", eval_every=2500, lr=0.2,
    )  # fmt: skip
    x_ref, x = ref.X.mean(0), got.X.mean(0)
    assert float((x - x_ref).norm() / x_ref.norm()) < 1e-6
    assert got.final["consensus_error"] < 1e-16
