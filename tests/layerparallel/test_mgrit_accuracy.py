"""Training one agent with multigrid-in-layers gradients against serial training (the issue's claim).

The digits ResNet with 16 residual blocks (8 channels), dsgd with lr 0.1 and momentum 0.9,
800 rounds, batch 64, one agent in 4 stages, TorchBraid's 2 forward / 1 adjoint iterations
(levels 2, cfactor 4, FCF, the first layer's coarse steps). Slow: a multigrid run takes about
1.5 minutes on one core, a serial one about 35 s. The ring of agents is in
``test_mgrit_ring_accuracy.py`` (so that the two files run in parallel under xdist).

**What is compared.** This training is chaotic: two runs whose gradients differ by rounding
(serial back-propagation, and ``levels=1``, the exact gradient through the multigrid code) agree
to 1e-7 after 50 rounds, 1e-3 after 200 and not at all after 800, and the test accuracy of one
run jumps by 2-4 points from one evaluation to the next late in training (loss spikes of the
large step). The accuracy at round 800 alone is therefore mostly noise; the test compares the
**mean test accuracy over the last 200 rounds** (8 evaluations, every 25 rounds), averaged over
seeds 0-3.

Measured, seeds 0-5 (final accuracy | mean over the last 200 rounds):

- serial: 0.9711 0.9600 0.9489 0.9533 0.9644 0.9644 (mean 0.9604) | 0.9475 0.9642 0.9361 0.9419
  0.9692 0.9475 (mean 0.9511);
- ``levels=1`` (exact, the control): 0.9622 0.9556 0.9444 0.9444 0.9622 0.9533 (0.9537) | 0.9394
  0.9511 0.9236 0.9303 0.9528 0.9481 (0.9409);
- mgrit 2/1, the defaults: 0.9289 0.9244 0.9200 0.9178 0.9756 0.9578 (0.9374) | 0.9450 0.9458
  0.9450 0.9411 0.9600 0.9383 (0.9459): 0.5 points below serial, 0.5 above the exact control;
  seeds 0-3 (what the test asserts) 0.9442 against serial's 0.9474.
"""

from __future__ import annotations

import pytest

import consensus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

COMMON = {
    "dataset": "digits", "model": "resnet:channels=8,depth=16", "rounds": 800, "eval_every": 0,
    "algorithm": "dsgd", "lr": 0.1, "momentum": 0.9,
}  # fmt: skip
TWO_ONE = "mgrit:levels=2,cfactor=4,fwd_iters=2,bwd_iters=1,relax=FCF"
TAIL_EVALS = 8  # evaluations every 25 rounds: the last 200 of 800 rounds


def tail_accuracy(**options: object) -> float:
    """Mean test accuracy over the last 200 of the 800 rounds (an evaluation every 25)."""
    result = consensus.train(**{**COMMON, "eval_every": 25, **options})  # type: ignore[arg-type]
    accuracies = [m["test_accuracy"] for m in result.metrics][-TAIL_EVALS:]
    assert len(accuracies) == TAIL_EVALS
    return sum(accuracies) / TAIL_EVALS


def test_one_agent_four_stages_two_one_iterations_within_one_and_a_half_points_of_serial() -> None:
    """Seeds 0-3: serial 0.9474, mgrit 2/1 0.9442 (last 200 rounds' mean test accuracy)."""
    one = {"topology": "complete", "agents": 1, "batch_size": 64}
    seeds = (0, 1, 2, 3)
    serial = sum(tail_accuracy(**one, seed=s) for s in seeds) / len(seeds)
    mgrit = sum(
        tail_accuracy(**one, seed=s, stages=4, layer_parallel=TWO_ONE) for s in seeds
    ) / len(seeds)
    assert mgrit >= serial - 0.015, (mgrit, serial)
