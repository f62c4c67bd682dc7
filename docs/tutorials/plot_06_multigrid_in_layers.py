"""
Multigrid in layers
===================

A residual network ``u_{k+1} = u_k + h F_k(u_k)`` is forward Euler for an ODE in the layer
index. Multigrid in layers (``layer_parallel="mgrit"``) solves that ODE, and its adjoint, by
nonlinear multigrid reduction in time (MGRIT): a few iterations, each of which works on every
layer at once, replace the forward and backward passes that go layer after layer (after Günther
et al., "Layer-parallel training of deep residual neural networks", SIMODS 2020; the algorithm
as built, its options and our choices are in the guide :doc:`/guides/multigrid_in_layers`).

This tutorial looks at a ResNet as an ODE, watches MGRIT converge on it (the residual against
the iteration, F and FCF relaxation, two and three grids), measures how far the gradient of a
few iterations is from the exact one, and trains with such inexact gradients against serial
training on the digits, with the paper's coarse steps and with summed ones that keep every
layer's weights (``coarse=sum``).
"""

# %%
# A ResNet is an ODE in the layer index
# -------------------------------------
# The built-in ``resnet:channels=8,depth=N`` is a stem convolution, ``N`` residual blocks
# ``u + h * conv(relu(conv(u)))`` with ``h = 1/N``, and a pooled linear head. Its blocks declare
# themselves residual steps: :func:`~consensus.layerparallel.mgrit.residual_chain` finds the
# chain of steps of one state shape between the stem and the head, and which stage owns each.

import itertools
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import consensus
from consensus.layerparallel import layer_parallel, split_model
from consensus.layerparallel.mgrit import residual_chain
from consensus.objective import LocalObjective
from consensus.setup import initial_parameters, local_shards, make_problem

torch.set_num_threads(1)
started = time.perf_counter()

problem = make_problem("digits", "resnet:channels=8,depth=64", agents=1, seed=0)
data = consensus.load_dataset("digits")
chain = residual_chain(split_model(problem.module, 4), (data.num_features,))
print(
    f"{chain.length} residual steps of h = {chain.steps[0].h:g}, state per sample {chain.state}, "
    f"stem {[layer.name for layer in chain.pre]}, head {[layer.name for layer in chain.post]}; "
    f"steps per stage {np.bincount(chain.owners).tolist()}"
)

# %%
# Multigrid works with a coarse grid of the same ODE: every ``m``-th layer is a point, and one
# step of size ``m h`` joins two points (the residual function of the fine layer at the coarse
# point's start). How well does it stand in for the fine chain? The stem's output of 16 images
# is propagated through all 64 layers and through the coarse chains of ``m = 2, 4, 8, 16``
# (float64), for the initial parameters (each layer drawn independently: far from smooth in the
# layer index) and for a network whose blocks all share the first block's weights (an
# autonomous ODE ``u' = F(u)``: as smooth as it gets).

X = initial_parameters(problem, np.arange(1), init="same", seed=0, dtype=torch.float64)
shards = local_shards(problem, np.arange(1), dtype=torch.float64, device="cpu")
P = split_model(problem.module, 4).layout.views(X)
u0 = shards.X[:, :16]  # (agents, batch, features): 16 training images
for layer in chain.pre:
    u0 = layer.forward(P, u0)
shared = {**P, **{name: P[name.replace(f"blocks.{k}.", "blocks.0.")]
                  for k, step in enumerate(chain.steps) for name in step.params}}  # fmt: skip


def propagate(params: dict[str, torch.Tensor], m: int, summed: bool = False) -> torch.Tensor:
    """Points 0, m, 2m, ... of the chain: each step of size m h with the first layer's weights,
    or (``summed``) every layer of the interval applied to the point's state and added."""
    u = u0
    with torch.no_grad():
        for k in range(0, chain.length, m):
            change = torch.zeros_like(u)
            for step in chain.steps[k : k + m] if summed else chain.steps[k : k + 1]:
                assert step.residual is not None
                change += (1 if summed else m) * step.h * step.residual(params, u)
            u = u + change
    return u


for name, params in (("initial draw", P), ("shared weights", shared)):
    fine = propagate(params, 1)
    for summed in (False, True):
        errors = [
            float((propagate(params, m, summed) - fine).norm() / (fine - u0).norm())
            for m in (2, 4, 8, 16)
        ]
        kind = "summed" if summed else "first layer"
        print(f"{name:<15} {kind:<11} coarse final state off by " + ", ".join(
            f"{e:.1%} (m = {m})" for e, m in zip(errors, (2, 4, 8, 16), strict=True)
        ) + " of the fine chain's change")  # fmt: skip

# %%
# With independent layers the coarse chain of first layers is no approximation at all: its end
# state misses the fine one by more than the whole change. With smooth weights it is close, and
# the closer the smaller ``m``. MGRIT converges either way (below), because its relaxation makes
# the fine solution exact interval by interval; the coarse grid decides how fast the error falls
# meanwhile.
#
# The **summed** coarse step (``coarse=sum``) applies every layer of the interval to the
# point's state and adds their changes, ``u + h sum_k F_k(u)``: each layer keeps its own
# weights, and what it leaves out is only that layer ``k`` would have seen the state after
# layers before it in the interval, a second-order effect in ``h``. It is as close for
# independent layers as for shared ones, at ``m`` times a fine step's work.
#
# MGRIT's convergence
# -------------------
# One MGRIT iteration (a V-cycle) relaxes on the fine grid: **F-relaxation** runs every
# ``m``-layer interval from its C-point (the interval's first layer) to the next, all intervals
# at once; **FCF** adds a step into each C-point and a second F-sweep. Then it takes the residual
# at the C-points, solves the coarse grid's equation (with the FAS right-hand side that makes a
# converged fine solution a fixed point), corrects the C-points and spreads the correction by an
# F-relaxation. With two grids the coarse equation is solved layer after layer; with three it is
# itself relaxed and corrected once more.
#
# :class:`~consensus.layerparallel.mgrit_objective.MGRITObjective` runs it in one process
# (every stage in turn, the same numbers as the stage processes of a mesh). ``fwd_iters`` and
# ``bwd_iters`` fix the iterations of the forward and the adjoint solve; after a gradient,
# ``objective.solver.forward_residuals`` and ``adjoint_residuals`` hold the residual norm of each
# iteration (the ``mgrit_forward_residual_i`` metrics of a run). Float64, so that the residual
# can fall to rounding. Parameters: the initial draw plus noise (per layer: not smooth in the
# layer index, as after some training).

X = X + 0.05 * torch.randn(X.shape, generator=torch.Generator().manual_seed(1), dtype=X.dtype)


def mgrit_objective(spec: str):
    plan = layer_parallel(problem.module, 4, spec)
    assert plan is not None
    return plan.objective(
        problem.module, problem.loss, shards, batch_size=16, seed=0, dtype=torch.float64,
        device="cpu",
    )  # fmt: skip


batch = mgrit_objective("mgrit").batch(0)
exact, _ = LocalObjective(problem.module, problem.loss, shards, batch_size=16).gradient(X, batch)

ITERS = 10
residuals = {}
for levels in (2, 3):
    for relax in ("F", "FCF"):
        objective = mgrit_objective(
            f"mgrit:levels={levels},relax={relax},fwd_iters={ITERS},bwd_iters={ITERS}"
        )
        G, _ = objective.gradient(X, batch)
        name = f"{relax}, {levels} grids"
        residuals[name] = [
            [float(r.max()) for r in objective.solver.forward_residuals],
            [float(r.max()) for r in objective.solver.adjoint_residuals],
        ]
        forward = residuals[name][0]
        rates = [b / a for a, b in itertools.pairwise(forward) if b > 1e-13]
        print(
            f"{name:<14} forward residual {forward[0]:.1e} -> {forward[-1]:.1e}, cut "
            f"{1 / max(rates):.0f}-{1 / min(rates):.0f}x per iteration; gradient error "
            f"{float((G - exact).norm() / exact.norm()):.0e}; work {objective.solver.work}"
        )

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
styles = {
    "F, 2 grids": dict(color="C0"),
    "FCF, 2 grids": dict(color="C3"),
    "F, 3 grids": dict(color="C0", ls="--", marker="o", ms=3),
    "FCF, 3 grids": dict(color="C3", ls="--", marker="o", ms=3),
}
for name, (forward, adjoint) in residuals.items():
    its = np.arange(1, ITERS + 1)
    axes[0].semilogy(its, forward, label=name, **styles[name])
    axes[1].semilogy(its, adjoint, label=name, **styles[name])
axes[0].set(xlabel="iteration", ylabel="residual norm", title="forward solve")
axes[1].set(xlabel="iteration", title="adjoint solve")
axes[0].legend(fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)

# %%
# The residual falls by a steady factor per iteration until it reaches rounding, and it reaches
# it after a fixed number of iterations: each F-relaxation makes one more interval exact (the one
# after the last exact C-point), each FCF two, so with 16 intervals of ``m = 4`` F is exact after
# 16 iterations and FCF after 8 whatever the parameters; the multigrid correction is what makes
# the residual fall long before. A third grid slows F a little and FCF hardly at all, and it
# shortens what runs in order: its coarsest grid is 4 steps (of 16 layers) instead of 16.
#
# The gradient error against the iterations
# -----------------------------------------
# Training uses few iterations (the defaults: 2 forward, 1 adjoint), so the gradient is
# inexact. Its relative error against the exact gradient, with ``fwd_iters = bwd_iters = i``:

errors: dict[str, list[float]] = {}
for relax in ("F", "FCF"):
    for i in range(1, 5):
        objective = mgrit_objective(f"mgrit:relax={relax},fwd_iters={i},bwd_iters={i}")
        G, _ = objective.gradient(X, batch)
        errors.setdefault(relax, []).append(float((G - exact).norm() / exact.norm()))
    print(f"{relax:<3} relative gradient error, 1..4 iterations: " + " ".join(f"{e:.1e}" for e in errors[relax]))  # fmt: skip
objective = mgrit_objective("mgrit")
G, _ = objective.gradient(X, batch)
print(f"defaults (FCF, 2 forward / 1 adjoint): {float((G - exact).norm() / exact.norm()):.1e}")

fig, ax = plt.subplots(figsize=(5, 3.4))
for relax, color in (("F", "C0"), ("FCF", "C3")):
    ax.semilogy(range(1, 5), errors[relax], marker="o", color=color, label=relax)
ax.set(
    xlabel="iterations (forward = adjoint)", ylabel="relative gradient error", xticks=[1, 2, 3, 4]
)
ax.legend()
ax.grid(alpha=0.3)

# %%
# Training with inexact gradients
# -------------------------------
# One agent (so the only communication would be between its stages), 2 stages,
# ``resnet:channels=8,depth=16`` on the digits, dsgd with ``lr=0.15`` and ``momentum=0.9``,
# batches of 64, 240 rounds: serial back-propagation (``stages=1``) against multigrid with the
# defaults (``levels=2, cfactor=4, FCF``, 2 forward and 1 adjoint iteration), and the defaults
# with the depth-smoothness regularizer ``smooth=1e-4``, and with summed coarse steps and a
# nested start, ``coarse=sum,init=nested`` (both below). The evaluations
# (test accuracy) use the exact forward pass; only the training gradients are inexact. With 16
# layers and ``m = 4`` there are 4 intervals, so two FCF iterations make the forward solve
# exact: the gradient's error here comes from the single adjoint iteration.

ROUNDS = 240
common = dict(
    agents=1, dataset="digits", model="resnet:channels=8,depth=16", rounds=ROUNDS,
    batch_size=64, eval_every=30, lr=0.15, momentum=0.9,
)  # fmt: skip
runs = {
    "serial": dict(stages=1),
    "mgrit (2 fwd / 1 adj)": dict(stages=2, layer_parallel="mgrit"),
    "mgrit, smooth=1e-4": dict(stages=2, layer_parallel="mgrit:smooth=1e-4"),
    "mgrit, coarse=sum,init=nested": dict(stages=2, layer_parallel="mgrit:coarse=sum,init=nested"),
}
results = {}
for name, options in runs.items():
    start = time.perf_counter()
    results[name] = consensus.train("ring", "dsgd", **common, **options)
    final = results[name].final
    print(
        f"{name:<30} test accuracy {final['test_accuracy']:.3f} after {ROUNDS} rounds, "
        f"{time.perf_counter() - start:4.1f} s"
    )

fig, (ax_acc, ax_res) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, result in results.items():
    ax_acc.plot(*result.curve("test_accuracy"), marker="o", ms=3, label=name)
mg = results["mgrit (2 fwd / 1 adj)"]
for key, label in (
    ("mgrit_forward_residual_1", "forward, iteration 1"),
    ("mgrit_forward_residual_2", "forward, iteration 2"),
    ("mgrit_adjoint_residual_1", "adjoint, iteration 1"),
):
    ax_res.semilogy(*mg.curve(key), marker="o", ms=3, label=label)
ax_acc.set(xlabel="round", ylabel="test accuracy", ylim=(0, 1))
ax_res.set(xlabel="round", ylabel="residual norm (the batch's)")
ax_acc.legend(fontsize=8)
ax_res.legend(fontsize=8)
for ax in (ax_acc, ax_res):
    ax.grid(alpha=0.3)

# %%
# How inexact were those gradients? The defaults' relative error at the initial parameters, at
# the ones serial training ended with, and at those of the run with the depth-smoothness
# regularizer (float64, one batch), with how far apart neighbouring blocks' weights are:

problem16 = make_problem("digits", common["model"], agents=1, seed=0)
shards16 = local_shards(problem16, np.arange(1), dtype=torch.float64, device="cpu")
oracles = {}
for spec in ("mgrit", "mgrit:coarse=sum,init=nested"):
    plan16 = layer_parallel(problem16.module, 2, spec)
    assert plan16 is not None
    oracles[spec] = plan16.objective(
        problem16.module, problem16.loss, shards16, batch_size=64, seed=0, dtype=torch.float64,
        device="cpu",
    )  # fmt: skip
batch16 = oracles["mgrit"].batch(0)
serial16 = LocalObjective(problem16.module, problem16.loss, shards16, batch_size=64)
X0 = initial_parameters(problem16, np.arange(1), init="same", seed=0, dtype=torch.float64)
trained = {
    "initial": X0,
    "serial-trained": results["serial"].X.double(),
    "smooth-trained": results["mgrit, smooth=1e-4"].X.double(),
}
for name, X16 in trained.items():
    ref, _ = serial16.gradient(X16, batch16)
    errors16 = {}
    for spec, oracle in oracles.items():
        G, _ = oracle.gradient(X16, batch16)
        errors16[spec] = float((G - ref).norm() / ref.norm())
    V = plan16.split.layout.views(X16)
    w = [V[f"blocks.{k}.b.weight"] for k in range(16)]
    size = np.mean([float(x.norm()) for x in w])
    jump = np.mean([float((b - a).norm()) for a, b in itertools.pairwise(w)])
    print(
        f"{name:<15} parameters: relative gradient error {errors16['mgrit']:.1e} (defaults), "
        f"{errors16['mgrit:coarse=sum,init=nested']:.1e} (coarse=sum,init=nested); a block's "
        f"second convolution: norm {size:.2f}, change to the next block {jump:.2f}"
    )
print(f"tutorial ran {time.perf_counter() - started:.0f} s")

# %%
# Reading the result
# ------------------
# **Multigrid converges, at a steady rate, to the serial gradient.** With enough iterations the
# gradient is the serial one to rounding (``levels=1`` is serial propagation outright); the tests
# in ``tests/layerparallel/test_mgrit.py`` check both in float64.
#
# **Few iterations give an inexact gradient, and training takes it.** With the defaults the
# run follows serial training's accuracy closely over these 240 rounds (one seed each; a
# different seed moves a run by as much as the gaps). Over longer training
# (``tests/layerparallel/test_mgrit_accuracy.py``: 800 rounds, ``lr=0.1``, 4 stages, six seeds)
# the defaults' mean test accuracy over the last 200 rounds is 0.946 against serial training's
# 0.951, and 0.941 for the exact gradient computed through the multigrid code (``levels=1``):
# this training is chaotic, so runs that differ only by rounding end a point apart, and the
# accuracy of the last round alone moves by several points (the guide's table has both
# measures). 8 agents on a ring with 2 stages each and the plain defaults end within 2 points
# of centralized training. The inexactness grows as the
# network trains: the residuals in the right panel rise by orders of magnitude over the rounds,
# and the defaults' gradient error is about 150 times larger at the serial-trained parameters
# than at the initial ones. (The forward states are still exact here: a residual is taken
# before its iteration's coarse correction, and the second iteration's correction completes the
# forward solve; the error is the adjoint's.) Training made the weights larger (the printed
# norms) and unrelated from one block to the next (the change to the next block is larger than
# a block's own norm), so a coarse step of ``4 h`` with one layer's weights stands in for four
# fine steps less well. ``smooth=alpha`` adds Günther et al.'s regularization in time,
# ``(alpha / 2) sum_k ||theta_{k+1} - theta_k||^2 / h``, to the objective: the smooth-trained
# weights change less from block to block and the same oracle's gradient error at them is
# about half (the printout). It is not free: it changes the objective, and over these 240
# rounds the regularized run trails the others. ``coarse=sum`` attacks the cause instead:
# a coarse step applies every layer of its interval to the coarse state and adds their
# changes, so each layer keeps its own weights (the first section's summed chain), and
# ``init=nested`` starts the solves from the coarsest grid's solution. At the serial-trained
# parameters its gradient error is about 30 times smaller than the defaults' (the printout),
# for 1.65 times the work. A consensus algorithm receives a biased stochastic gradient; dsgd,
# gradient tracking and the others run on it unchanged, and ``serial_every=K`` replaces every
# ``K``-th round's gradient by the exact one (the pipeline's). In one run with ``lr=0.3`` (not
# shown) the defaults diverged at round 120 where serial training went on to 0.92 test
# accuracy: inexact gradients may want a smaller step.
#
# **It pays only with many stages.** One process doing multigrid does several times the work of
# back-propagation (the ``work`` counts above: the defaults apply about 5 layer steps per layer,
# serial back-propagation 2). The gain is that the work of an iteration spreads over the stage
# processes, all at once; what stays in order is the coarsest grid (``N / m`` steps per
# iteration) and the messages between neighbouring stages. ``benchmarks/mgrit.py`` measures the
# terms and models the speedup: with the defaults, break-even needs 8 stage processes (from 32
# layers on), and with two grids the speedup stays near 3x even at 64 stages and 1,024 layers.
# ``coarse=sum`` never breaks even on one core per stage: its coarse solve applies every layer,
# in order.
