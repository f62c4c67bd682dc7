"""Training one agent with multigrid-in-layers gradients against serial training (the issue's claim).

The digits ResNet with 16 residual blocks (8 channels), dsgd with lr 0.1 and momentum 0.9,
800 rounds, batch 64, one agent in 4 stages, TorchBraid's 2 forward / 1 adjoint iterations
(levels 2, cfactor 4, FCF). Slow: a multigrid run takes 2-3 minutes on one core, a serial one
under one. The ring of agents is in ``test_mgrit_ring_accuracy.py`` (so that the two files run
in parallel under xdist).

Measured, test accuracy after 800 rounds, seeds 0-5 (a run's accuracy moves by a point or more
with rounding-level changes, so only means say something):

- serial: 0.9711 0.9600 0.9489 0.9533 0.9644 0.9644 (mean 0.9604);
- mgrit, plain: 0.9289 0.9244 0.9200 0.9178 0.9756 0.9578 (mean 0.9374, 2.3 points short);
- mgrit with the depth-smoothness regularizer ``smooth=1e-4``: 0.9511 0.9444 0.9200 0.9511
  0.9578 0.9600 (mean 0.9474, 1.3 points short; seeds 0-3 alone 1.7 short); ``smooth=3e-5``
  (seeds 0-3): 0.9422 0.9622 0.9533 0.9422 (0.8 short of those seeds' serial mean);
  ``smooth=1e-4,serial_every=4`` (seeds 0-3): 0.9311 0.9200 0.9533 0.9222;
- mgrit plain with an exact serial round every 2 rounds (seeds 0, 1): 0.9533 0.9667 (mean within
  0.6 points: what the test asserts, within 1.5).

The plain runs fall short because the single adjoint iteration is far from converged on the
trained network (relative gradient error 8e-4 at the start, 0.11-0.20 after 800 rounds, all of
it in the first stage's blocks and the stem): a coarse adjoint step stands for four layers with
one layer's Jacobian, and training leaves neighbouring layers' weights unrelated. The
regularizer (Günther et al.'s) keeps them closer (neighbouring blocks' weights differ by 1.7
against 5.0 without it, seed 0) and the error at the trained weights falls to 0.05-0.13, but
the accuracy gain (1 point on average) is within the runs' spread.
"""

from __future__ import annotations

import pytest

import consensus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

COMMON = {
    "dataset": "digits", "model": "resnet:channels=8,depth=16", "rounds": 800, "eval_every": 0,
    "algorithm": "dsgd", "lr": 0.1, "momentum": 0.9,
}  # fmt: skip
TWO_ONE = "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,relax=FCF"


def accuracy(**options: object) -> float:
    """Final test accuracy of one run of the common settings with ``options``."""
    return consensus.train(**{**COMMON, **options}).final["test_accuracy"]  # type: ignore[arg-type]


def test_one_agent_four_stages_with_serial_rounds_within_one_and_a_half_points_of_serial() -> None:
    """Mean over seeds 0, 1 (serial 0.9656; measured 0.9600)."""
    one = {"topology": "complete", "agents": 1, "batch_size": 64}
    seeds = (0, 1)
    serial = sum(accuracy(**one, seed=s) for s in seeds) / len(seeds)
    mgrit = sum(
        accuracy(**one, seed=s, stages=4, layer_parallel=f"{TWO_ONE},serial_every=2") for s in seeds
    ) / len(seeds)
    assert mgrit >= serial - 0.015, (mgrit, serial)
