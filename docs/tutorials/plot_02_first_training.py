"""
Your first decentralized training
=================================

Eight agents sit on a ring. Each holds one eighth of the training set of scikit-learn's
handwritten digits and its own copy of a small neural network. In every round an agent takes a
step on its own data and exchanges two vectors with its two neighbours, and with nobody else.
No agent ever sees all the data, and there is no server, yet the agents end up agreeing on one
model.

This tutorial trains them with :func:`consensus.train`, explains the metrics it records, uses
the average model to read digits, and then makes the problem harder: each agent sees only a few
classes, and every few rounds the agents take an exact average.
"""

# %%
# Train
# -----
# One call: the topology (any :func:`topologies.get` spec), the algorithm (a name from
# :data:`consensus.ALGORITHMS`), the problem, and the algorithm's options as keywords. NEXT's
# local step is a gradient step of length ``alpha0 / tau`` on the agent's estimate of the
# *global* gradient (the guide :doc:`/guides/algorithms` has the details). The models here are
# tiny, so one thread is fastest.

import matplotlib.pyplot as plt
import torch

import consensus

torch.set_num_threads(1)

result = consensus.train(
    "ring",  # 8 agents on a ring, Metropolis weights
    "next",
    agents=8,
    dataset="digits",  # 1347 training images of 8 x 8 pixels, 10 classes
    model="mlp",  # 64 -> 64 -> 10, ReLU
    rounds=200,
    batch_size=32,  # samples per agent per round
    tau=1.0,
    alpha0=1.0,
    eval_every=5,
)
for key, value in result.final.items():
    print(f"{key:22s} {value:.4g}")

# %%
# What the metrics mean
# ---------------------
# ``result.metrics`` holds one dict per evaluation (every ``eval_every`` rounds and at the
# end), ``result.final`` the last one. All of them describe the whole network, not one agent:
#
# ``loss``
#     ``F(x_bar) = (1/N) * sum of the losses of all N training samples + r(x_bar)``, at the
#     *average* model ``x_bar = (1/n) sum_i x_i`` of the ``n`` agents, over the whole training
#     set. This is the objective the agents minimize together, and the number centralized
#     training would report (``r`` is the regularizer, none here).
# ``grad_norm``
#     ``||grad F(x_bar)||``: zero at a minimizer.
# ``consensus_error``
#     ``(1/n) sum_i ||x_i - x_bar||^2``: how far the agents' models are from agreeing. Zero
#     means all agents hold the same model.
# ``train_accuracy``, ``test_accuracy``
#     Accuracy of the average model ``x_bar`` on the training set and the held-out test set.
# ``agents_test_accuracy``
#     The test accuracy of each agent's *own* model, averaged over the agents.
# ``step_size``
#     The algorithm's step: for NEXT the convex-combination weight ``alpha``.
# ``bytes_per_agent``
#     What an agent has sent so far, on average over the agents. NEXT sends two vectors of
#     ``d`` numbers (its parameters and its gradient tracker) to each of its two neighbours per
#     round; below, that is computed by hand and compared.
# ``grad_evals_per_agent``
#     Samples whose gradient each agent has computed (``batch_size`` per round).

d = result.X.shape[1]  # parameters per agent: X has one row per agent
per_round = 2 * 2 * d * 4  # 2 vectors, 2 neighbours, d float32 numbers of 4 bytes
print(f"d = {d}, {per_round} bytes per round, {200 * per_round / 1e6:.2f} MB in 200 rounds")
print(f"recorded: {result.final['bytes_per_agent'] / 1e6:.2f} MB")

# %%
# Curves
# ------
# :meth:`Result.curve(key) <consensus.Result.curve>` gives ``(rounds, values)`` of one metric,
# ready to plot.

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, key, log in zip(
    axes, ["loss", "test_accuracy", "consensus_error"], [True, False, True], strict=True
):
    ax.plot(*result.curve(key))
    ax.set_xlabel("round")
    ax.set_title(key)
    if log:
        ax.set_yscale("log")
fig.tight_layout()

# %%
# The loss keeps falling while the test accuracy levels off near 98 %. The consensus error
# falls too, but not to zero: every round each agent steps on its own random minibatch, which
# pulls the agents apart a little, and gossip pulls them back together.
#
# The average model
# -----------------
# ``result.model`` is an ordinary ``nn.Module`` holding the average of the agents' parameters
# ``x_bar``. Use it like any trained model; here, on the first test digits (the same
# standardized split that training used, from :func:`consensus.load_dataset`).

data = consensus.load_dataset("digits")
model = result.model.eval()
with torch.no_grad():
    logits = model(torch.as_tensor(data.X_test, dtype=torch.float32))
predicted = logits.argmax(1).numpy()
print("test accuracy of result.model:", (predicted == data.y_test).mean().round(4))

fig, axes = plt.subplots(1, 8, figsize=(10, 1.9))
for k, ax in enumerate(axes):
    ax.imshow(data.X_test[k].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{predicted[k]} (true {data.y_test[k]})", fontsize=9)
    ax.axis("off")

# %%
# Skewed data
# -----------
# So far every agent had a random eighth of the data, with all ten classes (``partition="iid"``,
# the default). Real agents rarely do. ``partition="label"`` sorts the samples by label, cuts
# them into ``2 n`` shards and deals two shards to each agent, so that each sees only two or
# three classes (``label:K`` deals ``K`` shards; ``dirichlet:ALPHA`` draws the class mix of
# every agent from a Dirichlet distribution). :func:`consensus.partition` shows the split:

for scheme in ("iid", "label"):
    parts = consensus.partition(data.y_train, 8, scheme)
    print(f"{scheme:6s}", [sorted(set(data.y_train[p].tolist())) for p in parts[:4]], "...")

# %%
# Each agent's gradient now points at *its* classes, so the agents disagree more. NEXT tracks
# the average gradient across the network (dynamic consensus), which corrects for that; plain
# decentralized SGD (``dsgd``, same step length) does not. Both, on both splits:

runs = {}
for algorithm, options in [("next", dict(tau=1.0, alpha0=1.0)), ("dsgd", dict(lr=1.0))]:
    for scheme in ("iid", "label"):
        runs[algorithm, scheme] = consensus.train(
            "ring",
            algorithm,
            agents=8,
            dataset="digits",
            model="mlp",
            rounds=200,
            batch_size=32,
            partition=scheme,
            eval_every=2,
            **options,
        )

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for (algorithm, scheme), run in runs.items():
    style = dict(color="C0" if algorithm == "next" else "C1", ls="-" if scheme == "iid" else "--")
    label = f"{algorithm}, {scheme}"
    axes[0].plot(*run.curve("loss"), label=label, **style)
    axes[1].plot(*run.curve("consensus_error"), label=label, lw=0.8, **style)
for ax, key in zip(axes, ["loss", "consensus_error"], strict=True):
    ax.set(xlabel="round", title=key, yscale="log")
axes[0].legend()
fig.tight_layout()

for (algorithm, scheme), run in runs.items():
    f = run.final
    print(
        f"{algorithm:4s} {scheme:5s}  loss {f['loss']:.4f}  test accuracy {f['test_accuracy']:.3f}"
        f"  consensus error {f['consensus_error']:.1e}"
    )

# %%
# On the skewed split (dashed lines) DSGD's agents drift about five times further apart, and
# its loss at the end is almost twice that on the iid split. NEXT hardly notices: its agents
# step along the tracked global gradient, not along their own, so its consensus error and loss
# stay where they were.
#
# A periodic global average
# -------------------------
# ``global_every=H`` replaces the gossip step by an exact average (an all-reduce) every ``H``
# rounds, for every vector the algorithm exchanges: Gossip-PGA for DSGD, and for NEXT both
# the parameters and the gradient trackers. Right after it, the consensus error is zero.

pga = {
    algorithm: consensus.train(
        "ring",
        algorithm,
        agents=8,
        dataset="digits",
        model="mlp",
        rounds=200,
        batch_size=32,
        partition="label",
        global_every=10,
        eval_every=1,
        **options,
    )
    for algorithm, options in [("next", dict(tau=1.0, alpha0=1.0)), ("dsgd", dict(lr=1.0))]
}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, algorithm in zip(axes, pga, strict=True):
    for run, label in [
        (runs[algorithm, "label"], "gossip only"),
        (pga[algorithm], "global_every=10"),
    ]:
        rounds, errors = run.curve("consensus_error")
        late = rounds >= 100
        ax.plot(rounds[late], errors[late], lw=0.9, label=label)
    ax.set(xlabel="round", title=f"{algorithm}, label split: consensus error", ylim=(0, None))
    ax.legend(loc="upper right")
fig.tight_layout()

for algorithm, run in pga.items():
    f = run.final
    print(
        f"{algorithm:4s} global_every=10  loss {f['loss']:.4f}"
        f"  test accuracy {f['test_accuracy']:.3f}  MB sent {f['bytes_per_agent'] / 1e6:.2f}"
    )

# %%
# Between two averages the agents drift apart again: the sawtooth. For DSGD on the skewed
# split the averages keep the agents closer than gossip alone and lower the loss at the end.
# For NEXT they do not help here: the average also resets the gradient trackers, after which
# each tracker carries the difference of two independent minibatch gradients, noisier than
# what gossip had accumulated, and the agents drift apart faster than without it. (With
# ``batch_size=0``, full-batch gradients, the same correction does cut NEXT's consensus
# error.) In bytes the correction costs nothing here: an all-reduce costs each agent
# ``2 (n - 1) / n`` vectors per vector averaged, a little less than gossip to two neighbours,
# but a real all-reduce waits for every agent in the network.
#
# Next steps
# ----------
# :doc:`plot_03_choosing_an_algorithm` compares every algorithm on one convex problem, and the
# guide :doc:`/guides/algorithms` gives their updates and options.
