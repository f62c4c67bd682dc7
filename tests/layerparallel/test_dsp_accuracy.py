"""Diversely stale parameters train about as well as serial training (the issue's accuracy claims, small scale).

Measured on the digits ResNet (16 channels, 3 blocks) with dsgd. Stale gradients need a smaller
step than serial training: with serial training's settings (batches of 64, lr 0.1, momentum 0.9)
four stages diverge. The staleness is counted in rounds, so smaller batches with a smaller step
(more rounds for the same samples) shrink it: batches of 16, lr 0.00625, momentum 0.9 train in all
four seeds measured. Slow: each run takes 15-60 s on one core. All numbers are in the guide
*Diversely stale parameters*.
"""

from __future__ import annotations

import pytest

import consensus
from consensus.engine import NonFiniteError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

RESNET = "resnet:channels=16,depth=3"
ONE_AGENT = {"topology": "complete", "algorithm": "dsgd", "agents": 1}
SERIAL = {"rounds": 1600, "batch_size": 64, "lr": 0.1, "momentum": 0.9}
# The same 102,400 samples in batches of 16, the step scaled down for staleness 6 at stage 0.
FOUR_STAGES = {"rounds": 6400, "batch_size": 16, "lr": 0.00625, "momentum": 0.9, "stages": 4}


def _accuracy(**options: object) -> float:
    result = consensus.train(dataset="digits", model=RESNET, eval_every=0, **options)  # type: ignore[arg-type]
    return result.final["test_accuracy"]


def _mean_accuracy(seeds: tuple[int, ...], **options: object) -> float:
    return sum(_accuracy(seed=seed, **options) for seed in seeds) / len(seeds)


def test_one_agent_four_stages_matches_serial_training_for_the_same_samples() -> None:
    """Mean over two seeds within 1.5 points of serial training on the same number of samples.

    Measured (seeds 0, 1, 2, 3): serial 0.9689 0.9800 0.9844 0.9800; dsp (staleness 6-4-2-0,
    recompute=false) 0.9622 0.9689 0.9644 0.9800: 0.9 points below on average, 2 at worst
    (seed 2). One run moves by about 1.5 points from seed to seed, hence the mean.
    """
    seeds = (0, 1)
    serial = _mean_accuracy(seeds, **ONE_AGENT, **SERIAL)
    dsp = _mean_accuracy(seeds, **ONE_AGENT, **FOUR_STAGES, layer_parallel="dsp")
    assert dsp >= serial - 0.015, (dsp, serial)


def test_serial_step_sizes_are_too_large_for_four_stale_stages() -> None:
    """With serial training's settings the four-stage pipeline diverges (both seeds measured, either recompute)."""
    with pytest.raises(NonFiniteError):
        _accuracy(seed=0, **ONE_AGENT, **SERIAL, stages=4, layer_parallel="dsp")


def test_eight_agents_on_a_ring_two_stages_match_centralized_training() -> None:
    """8 agents x 2 stages, 16 samples each per round, vs one model on 128 samples per round.

    Mean over two seeds within 2 points. Measured (seeds 0, 1): centralized 0.9578 0.9778, dsp
    0.9533 0.9756. Two stages (staleness 2-0) take serial training's settings here; with
    ``recompute=true`` the same run diverges (seed 0).
    """
    seeds = (0, 1)
    common = {"rounds": 800, "lr": 0.1, "momentum": 0.9}
    centralized = _mean_accuracy(seeds, **ONE_AGENT, batch_size=128, **common)
    ring = _mean_accuracy(
        seeds, topology="ring", algorithm="dsgd", agents=8, batch_size=16, stages=2,
        layer_parallel="dsp", **common,
    )  # fmt: skip
    assert ring >= centralized - 0.02, (ring, centralized)
