"""
Layer-parallel methods compared
===============================

An agent whose model is cut into stages can let the stages cooperate in four ways
(``layer_parallel=``):

* ``pipeline``: the exact pipeline (tutorial 4): micro-batches forward, gradients back, the
  serial gradient;
* ``sph``: the serial-parallel hybrid (tutorial 5): every stage steps at once on a penalized
  objective over stored states, with serial rounds of the pipeline in between;
* ``mgrit``: multigrid in layers (tutorial 6): the forward and adjoint passes of a residual
  network solved by a few multigrid iterations that work on every layer at once;
* ``dsp``: diversely stale parameters (the guide :doc:`/guides/diversely_stale_parameters`):
  every stage forwards a new batch and backwards an older one every round, with no waiting.

This tutorial trains one residual network on the digits with each of them, and compares test
accuracy against epochs, against time and against the bytes sent between the stages; then it
tabulates what each method computes exactly, and what the benchmarks measured of their speed
on stage processes.
"""

# %%
# The problem
# -----------
# ``resnet:channels=8,depth=8``: a stem convolution, eight residual blocks and a linear head, cut
# into 4 stages balanced by parameter count. One agent (so the only communication is between its
# stages), dsgd with ``lr=0.1`` and ``momentum=0.9``, batches of 64 of the digits' training
# images, float32.

import time

import matplotlib.pyplot as plt
import torch

import consensus
from consensus.layerparallel import split_model
from consensus.layerparallel.mesh import boundary_shapes
from consensus.models import build_model

torch.set_num_threads(1)
started = time.perf_counter()

MODEL, S = "resnet:channels=8,depth=8", 4
data = consensus.load_dataset("digits")
TRAIN = data.X_train.shape[0]  # training images: an epoch
split = split_model(build_model(MODEL, data), S)
shapes = boundary_shapes(split, data.image_shape)
for stage in split.stages:
    print(
        f"stage {stage.index}: {[layer.name for layer in stage.layers]}, {stage.dim} parameters, "
        f"output per sample {shapes[stage.index + 1]}"
    )
print(f"{TRAIN} training images")

# %%
# Five runs
# ---------
# Each method with its defaults, 400 rounds (about 19 epochs):
#
# * ``pipeline``: ``pipeline:microbatches=1``, the serial gradient (serial training but for
#   float32 rounding);
# * ``sph``: ``beta=0.1``, one parallel round of two Jacobi steps, then one serial round;
# * ``mgrit``: two grids, coarsening factor 4, FCF relaxation, 2 forward and 1 adjoint
#   iteration per gradient;
# * ``dsp``: ``staleness=auto`` (stage ``s`` backwards the batch it forwarded ``2 (S-1-s)``
#   rounds earlier: 6-4-2-0), ``recompute=false``;
# * ``dsp, batch 16``: the same with batches of 16 and ``lr=0.025``: the same images in four times
#   the rounds, each step a quarter. The guide found that 4 stages need such smaller steps.
#
# ``on_eval`` collects every evaluation (every 25 rounds), so a run that diverges (``train``
# raises :class:`~consensus.NonFiniteError`) still leaves its curve up to that point. Every
# evaluation is an exact pass at the current parameters, whichever the method.

ROUNDS = 400
common = dict(
    agents=1, dataset="digits", model=MODEL, stages=S, dtype="float32", lr=0.1, momentum=0.9,
)  # fmt: skip
runs = {
    "pipeline": dict(layer_parallel="pipeline:microbatches=1", batch_size=64, rounds=ROUNDS),
    "sph": dict(layer_parallel="sph", batch_size=64, rounds=ROUNDS),
    "mgrit": dict(layer_parallel="mgrit", batch_size=64, rounds=ROUNDS),
    "dsp": dict(layer_parallel="dsp", batch_size=64, rounds=ROUNDS),
    "dsp, batch 16": dict(layer_parallel="dsp", batch_size=16, rounds=4 * ROUNDS, lr=0.025),
}
histories: dict[str, list[dict[str, float]]] = {}
for name, options in runs.items():
    history: list[dict[str, float]] = []
    every = options["rounds"] // 16
    try:
        consensus.train(
            "ring", "dsgd", on_eval=history.append, eval_every=every, **{**common, **options}
        )
        status = "finished"
    except consensus.NonFiniteError as err:
        status = f"diverged: {err}"
    for m in history:
        m["epoch"] = m["round"] * options["batch_size"] / TRAIN
    histories[name] = history
    last = history[-1] if history else {}
    print(
        f"{name:<14} test acc {last.get('test_accuracy', float('nan')):.3f} after "
        f"{last.get('epoch', 0):4.1f} epochs, {last.get('stage_bytes_per_agent', 0) / 2**20:5.0f} "
        f"MiB between stages, {last.get('wall_time', 0):5.1f} s; {status}"
    )

# %%
# Accuracy against epochs, time and traffic
# -----------------------------------------
# The middle panel's time is this process's: the simulator runs the stages one after the other,
# so its seconds are the method's **total work** (and the evaluations', the same for every
# method), not the time of a mesh of stage processes, where the stages work at the same time
# and wait for each other. The section after the next one gives the benchmarks' mesh numbers.

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
styles = {
    "pipeline": dict(color="0.2", lw=2.5, alpha=0.5),
    "sph": dict(color="C3"),
    "mgrit": dict(color="C2"),
    "dsp": dict(color="C0", marker="x", ms=5),
    "dsp, batch 16": dict(color="C0", ls="--"),
}
for name, history in histories.items():
    accuracy = [m["test_accuracy"] for m in history]
    axes[0].plot([m["epoch"] for m in history], accuracy, label=name, **styles[name])
    axes[1].plot([m["wall_time"] for m in history], accuracy, label=name, **styles[name])
    mib = [m["stage_bytes_per_agent"] / 2**20 for m in history]
    axes[2].plot(mib, accuracy, label=name, **styles[name])
axes[0].set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
axes[1].set(xlabel="seconds in this process (total work, not a mesh's time)")
axes[2].set(xlabel="MiB sent between the agent's stages", xscale="log")
axes[0].legend(loc="lower right", fontsize=8)
for ax in axes:
    ax.grid(alpha=0.3)

# %%
# Reading the result
# ------------------
# **Per epoch**, the pipeline is serial training. Multigrid follows it closely for most of the
# run and ends a little below (0.89 against 0.94 here): its gradient is inexact, and the error
# grows as the network trains (tutorial 6).
# The hybrid learns more slowly per round and swings more: half its rounds are parallel rounds
# on states that lag the network. DSP with the pipeline's step size trains poorly: stage 0 steps
# on gradients 6 rounds old, and a delay of ``tau`` rounds lowers the stable step size by a
# factor of order ``2 tau + 1`` (the guide); with momentum 0.9 it can diverge. With batches of 16
# and a quarter of the step (the same images) it learns, but stays well behind the pipeline at this
# number of epochs (0.68 against 0.94 in this run, one seed).
#
# **Per second of this process**, the order is the methods' work per round (the runs above
# print their seconds, evaluations included). A DSP round costs about a pipeline round: one
# forward and one backward of every stage (with ``recompute=true`` also a second forward of the
# stale stages). The hybrid's parallel rounds run two Jacobi steps, each a forward and a
# backward of every stage, so with one serial round in two it took about 1.4 times the
# pipeline's seconds here. Multigrid's iterations apply about five layer steps per layer where
# back-propagation applies two: about 2.7 times. DSP with batches of 16 takes four times the
# rounds for the same images, and small batches cost more per image.
#
# **Per byte**, the pipeline, DSP and DSP with smaller batches send the same: each image's
# activation forward and its gradient back once per boundary. The hybrid's parallel rounds send
# its states and their gradients once per Jacobi step (1.5 times the pipeline's bytes with one
# serial round in two); multigrid sends states at every iteration, forward and adjoint, and
# along its coarse grid: 7 times the pipeline's bytes here.
#
# What each method is exact about
# -------------------------------
#
# .. list-table::
#    :header-rows: 1
#    :widths: 14 43 43
#
#    * - method
#      - exact
#      - not exact
#    * - ``pipeline``
#      - the serial gradient, every round (up to the order of the micro-batch sums)
#      - nothing; it pays with idle stages: ``(S-1)/(M+S-1)`` of each round
#    * - ``sph``
#      - its serial rounds (the exact pipeline)
#      - parallel rounds: each stage steps on a penalty (or augmented Lagrangian) approximation
#        over stored states, which lag the network
#    * - ``mgrit``
#      - ``levels=1``, and any setting iterated to convergence (the serial gradient); the
#        ``serial_every`` rounds
#      - the defaults' few iterations: a biased gradient, more so as the network trains
#    * - ``dsp``
#      - every stage's gradient is the exact gradient of the loss of an older batch at stale
#        parameters (``recompute=false``: those of the batch's forward); ``staleness=0`` is the
#        exact pipeline
#      - the update: stage ``s`` steps on a gradient ``2 (S-1-s)`` rounds old (``auto``);
#        ``recompute=true`` mixes the current parameters with an old output gradient
#
# Every method's evaluations (loss, accuracy, gradient norm) are exact passes. The consensus
# algorithm is the same for all: gossip mixes each stage's current parameters with the same
# stage of the neighbours, whatever the method computed its gradient from.
#
# Time on stage processes
# -----------------------
# On a mesh each stage is a process and the stages work at the same time; what a method buys is
# time per round there. The benchmarks measure it on 2 gloo processes of a 2-core machine and
# model more stages from the measured terms (``benchmarks/README.md``; other models and batch
# sizes than here, so compare the ratios, not the numbers):
#
# .. list-table::
#    :header-rows: 1
#    :widths: 16 42 42
#
#    * - method (benchmark)
#      - measured, 2 stage processes
#      - modelled, 4 and 8 stages
#    * - ``pipeline`` (``pipeline.py``)
#      - 1.4-1.6x one process per gradient with 8 micro-batches of 512 rows (an MLP of width
#        1,024); slower than one process for small micro-batches
#      - the bubble ``(S-1)/(M+S-1)``: 0.27 and 0.47 of each stage idle at ``M = 8``
#    * - ``sph`` (``sph.py``)
#      - 0.73x serial training per epoch with the defaults (a parallel round costs 2.4 serial
#        rounds' work)
#      - 0.88x and 0.99x
#    * - ``mgrit`` (``mgrit.py``)
#      - slower than serial back-propagation (model 0.42x at 2 stages)
#      - 16 layers: 0.67x and 0.60x; breaks even at 8 stages from 64 layers on (1.08x)
#    * - ``dsp`` (``dsp.py``)
#      - at equal micro-batches (32 rows): 1.2-1.3x the pipeline's samples per second at
#        ``M = 1``, 0.83-0.91x 1F1B's at ``M = 4``; no idle rounds, but 22-28% of each round in
#        waits (a synchronization of the stages every round)
#      - over the pipeline at ``M = 4``: 1.4x and 2.0x with an ideal transport; 0.9-1.0x and
#        1.05-1.2x with the per-round costs measured on 2 processes
#
# Only the pipeline's speed is a speedup to a given accuracy: the other methods learn
# differently per epoch (above), so their time per round is only half the answer.

print(f"tutorial ran {time.perf_counter() - started:.0f} s")
