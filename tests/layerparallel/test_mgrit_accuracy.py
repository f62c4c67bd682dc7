"""Training with multigrid-in-layers gradients against serial training (the issue's accuracy claims).

The digits ResNet with 16 residual blocks (8 channels), dsgd with lr 0.1 and momentum 0.9,
800 rounds. Slow: a multigrid run takes about a minute on one core.

Measured on one agent in 4 stages, batch 64 (seeds 0 / 1): serial 0.9711 / 0.9600 (mean
0.9656). TorchBraid's 2 forward / 1 adjoint iterations (levels 2, cfactor 4, FCF) with an exact
serial round every 2 rounds (``serial_every=2``): 0.9533 / 0.9667 (mean 0.9600, within 1.5
points); every 4 rounds: 0.9533 (seed 0). Without serial rounds: 0.9289 / 0.9244, 4 points
short: the single adjoint iteration is far from converged on the trained network (relative
gradient error 0.19 at round 800, 8e-4 at the start), because each coarse adjoint step stands
for four layers with one layer's Jacobian, and the trained layers are not smooth in depth (the
paper regularizes for that; we do not). With 2 adjoint iterations (exact here: 4 coarse
intervals) 0.9711 on seed 0, serial training's.

8 agents on a ring, 2 stages each, batch 16 per agent: see the second test.
"""

from __future__ import annotations

import pytest

import consensus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

COMMON = {
    "dataset": "digits", "model": "resnet:channels=8,depth=16", "rounds": 800, "eval_every": 0,
    "algorithm": "dsgd", "lr": 0.1, "momentum": 0.9,
}  # fmt: skip
TWO_ONE = "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,relax=FCF,serial_every=2"


def _accuracy(**options: object) -> float:
    return consensus.train(**{**COMMON, **options}).final["test_accuracy"]  # type: ignore[arg-type]


def test_one_agent_four_stages_within_one_and_a_half_points_of_serial() -> None:
    one = {"topology": "complete", "agents": 1, "batch_size": 64}
    seeds = (0, 1)
    serial = sum(_accuracy(**one, seed=s) for s in seeds) / len(seeds)
    mgrit = sum(_accuracy(**one, seed=s, stages=4, layer_parallel=TWO_ONE) for s in seeds) / 2
    assert mgrit >= serial - 0.015, (mgrit, serial)


def test_eight_agents_on_a_ring_two_stages_within_two_points_of_centralized() -> None:
    """8 agents x 2 stages, 16 samples each per round, vs one model on 128 samples per round.

    Measured (seed 0): centralized 0.9333; the ring with multigrid 2 / 1 and no serial
    rounds 0.9400 (with a serial round every 2 rounds 0.9467, as with the exact pipeline).
    """
    central = _accuracy(topology="complete", agents=1, batch_size=128, seed=0)
    ring = _accuracy(
        topology="ring", agents=8, batch_size=16, seed=0, stages=2,
        layer_parallel="mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,relax=FCF",
    )  # fmt: skip
    assert ring >= central - 0.02, (ring, central)
