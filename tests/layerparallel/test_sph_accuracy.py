"""The serial-parallel hybrid trains as well as serial training (the issue's accuracy claims, small scale).

Measured on the digits ResNet (16 channels, 3 blocks) with dsgd, lr 0.1 and momentum 0.9.
Slow: each run takes 20-60 s on one core.
"""

from __future__ import annotations

import pytest

import consensus
from consensus.engine import NonFiniteError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RESNET = "resnet:channels=16,depth=3"
SGD = {"lr": 0.1, "momentum": 0.9}


def _accuracy(**options: object) -> float:
    result = consensus.train(dataset="digits", model=RESNET, eval_every=0, **SGD, **options)  # type: ignore[arg-type]
    return result.final["test_accuracy"]


def _mean_accuracy(seeds: tuple[int, ...], **options: object) -> float:
    return sum(_accuracy(seed=seed, **options) for seed in seeds) / len(seeds)


def test_one_agent_four_stages_matches_serial_training() -> None:
    """Mean over two seeds of 1600 rounds (76 epochs): penalty and AL within 1.5 points of serial.

    One run's accuracy moves by about 1.5 points from seed to seed, hence the
    mean. Measured (seeds 0-4): serial 0.9689 0.9800 0.9844 0.9800 0.9822
    (mean 0.9791), penalty (state_step 1) 0.9667 0.9711 0.9844 0.9844 0.9889
    (0.9791), augmented Lagrangian (state_step 0.5) 0.9644 0.9800 0.9644
    0.9778 0.9867 (0.9747). With state_step 0.3 (the earlier default) the
    penalty failed on two seeds of five and the AL trailed by 2 points.
    """
    common = {
        "topology": "complete",
        "algorithm": "dsgd",
        "agents": 1,
        "rounds": 1600,
        "batch_size": 64,
    }
    seeds = (0, 1)
    serial = _mean_accuracy(seeds, **common)
    penalty = _mean_accuracy(seeds, **common, stages=4, layer_parallel="sph:method=penalty")
    al = _mean_accuracy(seeds, **common, stages=4, layer_parallel="sph:method=al")
    assert penalty >= serial - 0.015, (penalty, serial)
    assert al >= serial - 0.015, (al, serial)
    # Without the serial correction the same run does not get there: the penalty's
    # parallel steps alone diverge at this learning rate (or end far lower).
    try:
        never = _accuracy(**common, stages=4, layer_parallel="sph:serial_every=0")
    except NonFiniteError:
        never = 0.0
    assert never < serial - 0.05


def test_eight_agents_on_a_ring_two_stages_match_centralized_training() -> None:
    """8 agents x 2 stages, 16 samples each per round, vs one model on 128 samples per round."""
    centralized = _accuracy(
        topology="complete", algorithm="dsgd", agents=1, rounds=800, batch_size=128
    )
    ring = _accuracy(
        topology="ring", algorithm="dsgd", agents=8, rounds=800, batch_size=16, stages=2,
        layer_parallel="sph",
    )  # fmt: skip
    assert ring >= centralized - 0.02, (ring, centralized)
