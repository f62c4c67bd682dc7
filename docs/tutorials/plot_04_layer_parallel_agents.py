"""
Layer-parallel agents
=====================

So far every agent was one process (or one row of a simulated block) that held its whole
model. With ``stages=S`` each agent's model is cut into ``S`` stages of consecutive layers, and
the stages of one agent cooperate as a pipeline: micro-batches flow forward through the stages,
gradients flow back. Gossip does not change: it runs stage by stage, each stage exchanging only
its own parameters with the same stage of the neighbouring agents.

This tutorial draws the resulting *agents x stages* mesh of processes from a real split, runs
the stages in one process and checks that the model is the one the agents train without stages,
shows the same run under ``torchrun``, and plots how much of a pipeline stays idle. How to make
your own model splittable is the guide :doc:`/guides/splitting_models`.
"""

# %%
# The mesh: agent blocks x stages
# -------------------------------
# Under ``torchrun --nproc-per-node P`` with ``--stages S`` the ``P`` processes form a
# ``(P/S) x S`` grid. Process ``(b, s)``, of global rank ``b * S + s``, hosts the agents of
# block ``b`` (the agents are cut into ``P/S`` contiguous blocks) and, of their parameters, only
# the columns of stage ``s``. Two kinds of links join the processes:
#
# * **gossip**, along a row of the grid (the ``"agent"`` dimension of the mesh): stage ``s`` of
#   block ``b`` exchanges stage ``s``'s columns with stage ``s`` of the blocks that host
#   neighbours of its agents in the topology;
# * **pipeline**, along a column (the ``"stage"`` dimension): the stages of one block pass
#   activations forward and gradients back.
#
# The columns come from :func:`~consensus.layerparallel.split_model`, which cuts the model into
# stages balanced by parameter count. Here: 4 agents on a ring, an MLP with two hidden layers of
# 32 units on the digits (three layers with parameters), ``P = 4`` processes and ``S = 2``
# stages, so 2 blocks of 2 agents.

import matplotlib.pyplot as plt
import numpy as np
import torch

import consensus
import topologies
from consensus.layerparallel import idle_fraction, one_f_one_b, split_model
from consensus.mixers.distributed import contiguous_blocks

torch.set_num_threads(1)

agents, processes, S = 4, 4, 2
blocks = contiguous_blocks(agents, processes // S)  # the agents of each block
data = consensus.load_dataset("digits")
model = consensus.MODELS["mlp"](data, hidden=(32, 32))
split = split_model(model, S)
for stage in split.stages:
    print(f"stage {stage.index}: layers {[layer.name for layer in stage.layers]}, "
          f"columns [{stage.cols.start}, {stage.cols.stop}), {stage.dim} parameters")  # fmt: skip

# %%
# The gossip links between blocks are the ring's edges whose two agents lie in different
# blocks; every stage has the same ones. Each node below is one process.

ring = topologies.get("ring", agents).graph(0)
block_of = {int(i): b for b, members in enumerate(blocks) for i in members}
crossing = [(i, j) for i, j in ring.edges() if block_of[i] != block_of[j]]
print("ring edges between blocks:", crossing)

fig, ax = plt.subplots(figsize=(7.5, 4.6))
xy = {(b, s): (3.2 * b, -2.0 * s) for b in range(len(blocks)) for s in range(S)}
for s in range(S):  # gossip: one arc per crossing ring edge, bent apart so both show
    for k, (i, j) in enumerate(crossing):
        (x0, y0), (x1, y1) = xy[block_of[i], s], xy[block_of[j], s]
        bend = 0.35 if k % 2 == 0 else -0.35
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops=dict(arrowstyle="-", color="C0", lw=2, shrinkA=38, shrinkB=38,
                            connectionstyle=f"arc3,rad={bend}"),
        )  # fmt: skip
        ax.text((x0 + x1) / 2, y0 + 0.72 * bend * 2, f"agents {i}-{j}", color="C0",
                ha="center", va="center", fontsize=8, bbox=dict(fc="white", ec="none", pad=1))  # fmt: skip
for b in range(len(blocks)):  # pipeline: the stages of one block, activations down
    for s in range(S - 1):
        (x0, y0), (x1, y1) = xy[b, s], xy[b, s + 1]
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops=dict(arrowstyle="<|-|>", color="C3", lw=2, shrinkA=30, shrinkB=30),
        )  # fmt: skip
for (b, s), (x, y) in xy.items():
    cols = split.stages[s].cols
    members = blocks[b]
    ax.text(
        x, y,
        f"rank {b * S + s}\nagents {members[0]}-{members[-1]}, stage {s}\n"
        f"cols [{cols.start}, {cols.stop})",
        ha="center", va="center", fontsize=9,
        bbox=dict(boxstyle="round,pad=0.5", fc="white", ec="0.3"),
    )  # fmt: skip
ax.plot([], [], color="C0", lw=2, label="gossip (agent dim)")
ax.plot([], [], color="C3", lw=2, label="pipeline (stage dim)")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
ax.set_xlim(-1.6, 3.2 * (len(blocks) - 1) + 1.6)
ax.set_ylim(-2.0 * (S - 1) - 0.9, 0.9)
ax.set_title(f"{agents} agents on a ring, {processes} processes: "
             f"{len(blocks)} agent blocks x {S} stages")  # fmt: skip
ax.axis("off")

# %%
# Stage 0 holds the first hidden layer (64 inputs x 32 units, the bulk of the parameters);
# stage 1 the other two. A stage process stores, sends and updates only its columns: the
# memory of an agent's parameters and its gossip traffic are split among its stages.
#
# Stages in one process
# ---------------------
# :func:`consensus.train` with ``stages=S`` runs every stage in this process, in turn, through
# the same pipeline code and schedule the stage processes run. ``layer_parallel`` names how the
# stages cooperate: ``pipeline:microbatches=4`` cuts each agent's batch of 32 samples into 4
# micro-batches of 8 and runs the 1F1B schedule (``schedule=gpipe`` for GPipe). The pipeline is
# exact: the gradient of a stage is the sum of its micro-batches' gradients, the serial gradient
# up to the order of the sums. In float64, the run with stages and the run without end at the
# same model:

options = dict(
    agents=agents, dataset="digits", model="mlp:hidden=32-32", rounds=40, batch_size=32,
    dtype="float64", eval_every=20, tau=1.0, alpha0=1.0,
)  # fmt: skip
whole = consensus.train("ring", "next", **options)
staged = consensus.train(
    "ring", "next", stages=S, layer_parallel="pipeline:microbatches=4", **options
)
difference = (whole.X - staged.X).abs().max().item()
print(
    f"loss without stages {whole.final['loss']:.10f}, with {S} stages {staged.final['loss']:.10f}"
)
print(f"max |X_whole - X_staged| = {difference:.1e}")

# %%
# The difference is at the level of float64 rounding: the same trajectory. ``split_points``
# places the cuts by hand instead: ``split_points="2"`` starts stage 1 at layer 2 (the layers
# are counted as :func:`~consensus.layerparallel.layers_of` counts them: only those with
# parameters).

by_hand = split_model(model, S, split_points=[2])
print(by_hand.layer_names(), [s.dim for s in by_hand.stages])

# %%
# The same under torchrun
# -----------------------
# From the command line, ``--stages``, ``--layer-parallel`` and ``--split-points`` are the
# same three options. Under ``torchrun`` with 4 processes and 2 stages the processes form the
# 2 x 2 mesh drawn above, and ``config.json`` records
# the mesh (its shape and each stage's layers and columns) under ``"mesh"``:
#
# .. code-block:: console
#
#    $ torchrun --standalone --nproc-per-node 4 experiments/run.py \
#          --topology ring --agents 4 --model mlp --rounds 40 \
#          --stages 2 --layer-parallel pipeline:schedule=1f1b,microbatches=4
#
# ``--split-points 1`` would cut the MLP before its second layer. With plain ``python`` and
# ``--stages 2`` the stages run in one process as in :func:`consensus.train` above, and the two
# launches follow the same trajectory. The number of processes must be a multiple of the
# number of stages, and there must be at least one agent per block. NEXT's ``partial`` and
# ``block`` surrogates run on the mesh too: their Jacobian products are pipelined passes, and
# with ``block`` each stage process solves the blocks of its own layers. The guide
# :doc:`/guides/torchrun` covers the rest of the launch.
#
# How much of a pipeline is idle
# ------------------------------
# A stage can only start micro-batch ``m`` when the previous stage has finished it, and the
# backward pass runs the other way, so the first and last stages wait at the start and end of
# every round: the *bubble*. With ``M`` micro-batches, ``S`` stages and equal stage costs, both
# GPipe and 1F1B leave each stage idle for a fraction
#
# .. math:: \frac{S - 1}{M + S - 1}
#
# of the round (:func:`~consensus.layerparallel.idle_fraction`). More micro-batches shrink it,
# but each one is smaller, and many small matrix products are slower than one large one.

M = np.arange(1, 33)
fig, ax = plt.subplots(figsize=(6, 3.4))
for stages in (2, 4):
    ax.plot(M, [idle_fraction(stages, int(m)) for m in M], marker="o", ms=3, label=f"S = {stages}")
ax.set(xlabel="micro-batches M", ylabel="idle fraction of each stage", xscale="log", ylim=(0, 1))
ax.set_xticks([1, 2, 4, 8, 16, 32], labels=["1", "2", "4", "8", "16", "32"])
ax.legend()
ax.grid(alpha=0.3)

# %%
# The two schedules differ in memory, not in idle time. GPipe runs all forwards, then all
# backwards, so every stage keeps the activations of all ``M`` micro-batches; 1F1B starts the
# backward passes as soon as it can, so stage ``s`` keeps at most ``S - s``. Counted from the
# schedules themselves:


def peak_live(actions: list[tuple[str, int]]) -> int:
    """Most micro-batches whose forward has run and whose backward has not."""
    live = peak = 0
    for kind, _ in actions:
        live += 1 if kind == "F" else -1
        peak = max(peak, live)
    return peak


for stages, m in [(2, 8), (4, 8), (4, 32)]:
    print(
        f"S={stages}, M={m:2d}: idle {idle_fraction(stages, m):.2f}; live activations per stage "
        f"1F1B {[peak_live(a) for a in one_f_one_b(stages, m)]}, GPipe {m} each"
    )

# %%
# The model assumes equal stage costs and free communication. Measured per-stage busy times of
# the simulator and of stage processes are the subject of the benchmark
# ``benchmarks/pipeline.py``.
#
# Next steps
# ----------
# The guide :doc:`/guides/splitting_models` explains what a layer is, how to make your own
# ``nn.Module`` splittable, how the split is chosen, and what is refused.
