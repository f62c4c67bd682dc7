"""Bad configurations fail before training with one line naming the problem and the fix."""

from __future__ import annotations

from typing import Any

import pytest

import consensus

CASES: list[tuple[dict[str, Any], str]] = [
    ({"algorithm": "nxt"}, "unknown algorithm 'nxt'"),
    ({"algorithm": "dsgd", "lr": -1.0}, "lr=-1.0 must be a positive number"),
    ({"algorithm": "dsgd", "momentum": 1.5}, "momentum"),
    ({"algorithm": "dsgd", "tau": 1.0}, "unknown option 'tau'"),
    ({"algorithm": "next", "surrogate": "quadratic"}, "unknown surrogate"),
    ({"algorithm": "next", "alpha0": 2.0}, "alpha0"),
    ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
    ({"dataset": "missing.npz"}, "does not exist"),
    ({"model": "transformer"}, "unknown model 'transformer'"),
    ({"dataset": "wine", "model": "cnn"}, "needs image data"),
    ({"partition": "shards"}, "unknown partition"),
    ({"partition": "dirichlet:abc"}, "not a number"),
    ({"reg": "l3:0.1"}, "bad regularizer"),
    ({"reg": "l2:x"}, "not a number"),
    ({"dtype": "float16"}, "unknown dtype"),
    ({"agents": 5000}, "at most"),
    ({"topology": "rign"}, "unknown topology 'rign'"),
    ({"topology": "erdos_renyi:p=2"}, "not a probability"),
    ({"rounds": 0}, "rounds=0"),
    ({"batch_size": -1}, "batch_size=-1"),
    ({"global_every": 0}, "global_every=0"),
    ({"init": "zeros"}, "unknown init"),
    ({"dataset": "diabetes", "loss": "cross_entropy"}, "regression"),
    ({"blocks": 20}, "blocks=20"),
]


@pytest.mark.parametrize(("kwargs", "message"), CASES)
def test_bad_input_gives_one_line_config_error(kwargs: dict[str, Any], message: str) -> None:
    options = {
        "topology": "ring",
        "algorithm": "dsgd",
        "agents": 8,
        "dataset": "iris",
        "model": "logistic",
        "rounds": 2,
    }
    options.update(kwargs)
    with pytest.raises(consensus.ConfigError) as info:
        consensus.train(**options)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


def test_divergence_is_reported_with_the_round() -> None:
    with pytest.raises(consensus.NonFiniteError, match="round"):
        consensus.train(
            "ring",
            "dgd",
            agents=4,
            dataset="diabetes",
            model="linear",
            rounds=200,
            batch_size=0,
            lr=50.0,
            eval_every=10,
        )
