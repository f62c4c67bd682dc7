"""One contract over the whole registry: shapes, purity, determinism, block independence, requirements."""

from __future__ import annotations

from functools import partial

import pytest
import torch

import consensus
import topologies
from consensus.algorithms import ALGORITHMS, Context, make
from consensus.regularizers import Regularizer

NAMES = sorted(ALGORITHMS)
SMALL = {"next": {"tau": 2.0}}


def _context(n: int, mixer: consensus.InProcessMixer, t: int = 0) -> Context:
    return Context(
        t=t,
        mix=partial(mixer.mix, t),
        global_mean=mixer.global_mean,
        reg=Regularizer(l2=0.01),
        n_total=n,
    )


@pytest.mark.parametrize("name", NAMES)
def test_update_keeps_shapes_and_does_not_modify_X_or_the_state(name: str) -> None:
    n, d = 6, 11
    alg = make(name, **SMALL.get(name, {}))
    mixer = consensus.InProcessMixer(topologies.get("ring", n), dtype=torch.float64)
    X = torch.randn(n, d, dtype=torch.float64)
    state = alg.init(X)
    for t in range(3):
        G = torch.randn(n, d, dtype=torch.float64)
        before = (X.clone(), {k: v.clone() for k, v in state.items()})
        X_new, new_state = alg.update(X, G, state, _context(n, mixer, t))  # G is handed over
        torch.testing.assert_close(X, before[0], rtol=0, atol=0)
        for key, value in state.items():
            torch.testing.assert_close(value, before[1][key], rtol=0, atol=0)
        assert X_new.shape == X.shape
        assert set(new_state) == set(state)
        for key, value in new_state.items():
            assert value.shape == state[key].shape, key
        X, state = X_new, new_state
    vectors = sum(v.numel() for v in state.values() if v.dim() == 2 and v.shape[1] == d) // (n * d)
    assert vectors == alg.state_vectors


def _run(name: str, *, seed: int = 0, blocks: int = 1) -> consensus.Result:
    return consensus.train(
        "link_failure:base=ring,q=0.3", name, agents=7, dataset="wine", model="mlp", rounds=12, batch_size=5,
        dtype="float64", eval_every=6, seed=seed, blocks=blocks, global_every=5, **SMALL.get(name, {}),
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_result_and_another_seed_differs(name: str) -> None:
    a, b, c = _run(name), _run(name), _run(name, seed=1)
    assert torch.equal(a.X, b.X)
    assert a.metrics == [
        {**m, "wall_time": a.metrics[i]["wall_time"]} for i, m in enumerate(b.metrics)
    ]
    assert not torch.equal(a.X, c.X)


@pytest.mark.parametrize("name", NAMES)
def test_agents_in_one_block_or_several_give_the_same_trajectory(name: str) -> None:
    one, three = _run(name), _run(name, blocks=3)
    torch.testing.assert_close(one.X, three.X, rtol=0, atol=1e-12)
    for m1, m3 in zip(one.metrics, three.metrics, strict=True):
        for key in ("loss", "consensus_error", "test_accuracy", "bytes_per_agent"):
            assert m1[key] == pytest.approx(m3[key], rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize("name", [n for n in NAMES if "symmetric" in ALGORITHMS[n].requires])
def test_algorithms_needing_symmetric_weights_refuse_a_nonsymmetric_schedule(name: str) -> None:
    with pytest.raises(consensus.ConfigError) as info:
        consensus.train(
            "one_peer_exponential", name, agents=8, dataset="iris", model="logistic", rounds=1
        )
    message = str(info.value)
    assert "\n" not in message and "symmetric" in message and name in message


@pytest.mark.parametrize(
    "name", [n for n in NAMES if "doubly_stochastic" in ALGORITHMS[n].requires]
)
def test_algorithms_needing_doubly_stochastic_weights_refuse_a_directed_irregular_graph(
    name: str,
) -> None:
    import networkx as nx

    graph = nx.DiGraph([(0, 1), (1, 2), (2, 0), (0, 2)])
    with pytest.raises(consensus.ConfigError, match="doubly stochastic"):
        consensus.train(graph, name, agents=3, dataset="iris", model="logistic", rounds=1)


def test_global_every_replaces_gossip_by_the_exact_average() -> None:
    result = consensus.train(
        "path", "dsgd", agents=8, dataset="wine", model="logistic", rounds=4, batch_size=3, dtype="float64",
        eval_every=4, global_every=4, init="independent",
    )  # fmt: skip
    assert result.final["consensus_error"] < 1e-28
