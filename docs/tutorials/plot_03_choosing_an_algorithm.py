"""
Choosing an algorithm
=====================

Concord ships several decentralized algorithms (:data:`consensus.ALGORITHMS`). They differ in
three ways that matter when you pick one: whether they reach the exact optimum or settle at a
biased point, how many vectors they send per round, and which mixing weights they need. This
tutorial runs every one of them on the same convex problem, where the optimum is known, and
measures all three.

The problem: multinomial logistic regression with an l2 penalty on scikit-learn's wine data
(13 features, 3 classes, so ``d = 42`` parameters), split among 8 agents on a ring. Gradients
are full-batch (``batch_size=0``) and in float64, so nothing is random and what we see is the
algorithms, not noise.
"""

# %%
# The optimum
# -----------
# Concord minimizes ``F(x) = (1/N) * sum of the losses of all N training samples + r(x)`` with
# ``r(x) = (lam/2) ||x||^2``: the same objective as training on the pooled data, whatever the
# split. So ``F*`` can be computed centrally: here with SciPy's trust-region Newton method on the pooled training set
# (the same standardized split :func:`consensus.load_dataset` gives the agents). The parameters
# are flattened in the model's order: the weight matrix, then the bias.

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import scipy.optimize
import torch
from torch.nn.functional import cross_entropy

import consensus
import topologies

torch.set_num_threads(1)

LAM = 0.01
ROUNDS = 200
data = consensus.load_dataset("wine")
X = torch.as_tensor(data.X_train)
y = torch.as_tensor(data.y_train)
C, p = data.num_classes, data.num_features


def objective(w):
    """F at the flat parameters w (a float64 tensor)."""
    weight, bias = w[: C * p].view(C, p), w[C * p :]
    return cross_entropy(X @ weight.T + bias, y) + LAM / 2 * w.dot(w)


def value_and_gradient(w):
    w = torch.tensor(w, requires_grad=True)
    value = objective(w)
    value.backward()
    return value.item(), w.grad.numpy()


def hessian(w):
    return torch.autograd.functional.hessian(objective, torch.tensor(w)).numpy()


solution = scipy.optimize.minimize(
    value_and_gradient,
    np.zeros(C * (p + 1)),
    jac=True,
    hess=hessian,
    method="trust-exact",
    options={"gtol": 1e-12},
)
F_star = solution.fun
print(f"F* = {F_star:.15f}, ||grad F|| there = {np.linalg.norm(solution.jac):.1e}")

# %%
# Every algorithm, with its step size tuned
# -----------------------------------------
# A fair comparison gives each algorithm a good step size. We try a few, doubling each time,
# run each for the same number of rounds and keep the one with the smallest final optimality
# gap ``F(x_bar) - F*``; a step that is too long makes the run diverge, which Concord reports
# as a :class:`~consensus.NonFiniteError`. NEXT's knobs are ``tau`` and ``alpha0``: its local
# step (with the linear surrogate) is ``x~ = x - y / tau`` and it moves ``alpha0`` of the way
# there, a step of ``alpha0 / tau``, so we keep ``alpha0 = 1`` and tune ``tau``. ``local_sgd``
# averages exactly every ``every = 4`` rounds and takes plain local steps in between.

problem = dict(
    agents=8,
    dataset="wine",
    model="logistic",
    batch_size=0,
    dtype="float64",
    reg=f"l2:{LAM}",
    rounds=ROUNDS,
)
steps = [0.5, 1.0, 2.0, 4.0]
candidates = {
    name: [{"tau": 1 / s, "alpha0": 1.0} for s in steps]
    if name == "next"
    else [{"lr": s, "every": 4} for s in steps]
    if name == "local_sgd"
    else [{"lr": s} for s in steps]
    for name in consensus.ALGORITHMS
}

chosen = {}
for name, options in candidates.items():
    final_loss = {}
    for k, option in enumerate(options):
        try:
            run = consensus.train("ring", name, eval_every=ROUNDS, **problem, **option)
        except consensus.NonFiniteError:
            continue  # diverged: too long a step
        final_loss[k] = run.final["loss"]
    chosen[name] = options[min(final_loss, key=final_loss.get)]
    print(f"{name:18s} {chosen[name]}")

# The chosen runs again, now evaluated every other round for the curves.
results = {
    name: consensus.train("ring", name, eval_every=2, **problem, **option)
    for name, option in chosen.items()
}

# %%
# The two questions, as pictures: how close does the average model get to the optimum, and how
# close do the agents get to each other, against rounds and against what each agent sent.
# Both are on log scales; the gap is floored at ``1e-16`` (float64 rounding). ``centralized``
# is missing from the consensus plots because its agents never disagree (an exact average
# every round), and ``local_sgd``'s consensus error is shown only between its averages (right
# after one it is zero).

styles = {
    "next": dict(color="C0", lw=3, alpha=0.5),
    "gradient_tracking": dict(color="C1"),
    "push_sum": dict(color="C4", ls=(0, (4, 3))),
    "extra": dict(color="C2"),
    "nids": dict(color="C3"),
    "dgd": dict(color="C5", ls="--"),
    "dsgd": dict(color="C6", ls="--"),
    "local_sgd": dict(color="C8", ls=":", lw=2.5, zorder=3),
    "centralized": dict(color="k", ls=":", lw=2),
}

fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharey="row", layout="constrained")
for name in styles:
    run = results[name]
    rounds, loss = run.curve("loss")
    _, cons = run.curve("consensus_error")
    _, sent = run.curve("bytes_per_agent")
    gap = np.maximum(loss - F_star, 1e-16)
    style = {"lw": 1.4, **styles[name]}
    axes[0, 0].plot(rounds, gap, label=name, **style)
    axes[0, 1].plot(sent / 1e3, gap, **style)
    if name != "centralized":
        drift = cons > 1e-20  # local_sgd: the rounds between two averages
        axes[1, 0].plot(rounds[drift], cons[drift], **style)
        axes[1, 1].plot(sent[drift] / 1e3, cons[drift], **style)
axes[0, 0].set_ylabel("optimality gap F(x_bar) - F*")
axes[1, 0].set_ylabel("consensus error")
for ax in axes.ravel():
    ax.set_yscale("log")
for ax in axes[:, 0]:
    ax.set_xlabel("round")
for ax in axes[:, 1]:
    ax.set_xlabel("kB sent per agent")
fig.legend(loc="outside right center")
fig.suptitle(f"8 agents on a ring: wine, logistic regression + l2, {ROUNDS} rounds")

# %%
# What it costs and needs
# -----------------------
# Per round, ``bytes_per_agent`` grows by what an agent sends; divided by the size of one
# vector (``d`` float64 numbers) that is the number of vectors each agent sends per round, to
# its two ring neighbours together. ``requires`` is what each algorithm demands of the mixing
# weights, and ``state_vectors`` how many ``d``-vectors of state it keeps per agent.

d = results["next"].X.shape[1]
rows = []
for name, run in results.items():
    cls = consensus.ALGORITHMS[name]
    per_round = run.final["bytes_per_agent"] / ROUNDS / (8 * d)
    rows.append(
        (
            name,
            ", ".join(f"{k}={v:g}" for k, v in chosen[name].items() if k != "every"),
            f"{run.final['loss'] - F_star:.1e}",
            f"{run.final['consensus_error']:.1e}",
            f"{per_round:.2f}",
            ", ".join(cls.requires) or "(none)",
            str(cls.state_vectors),
        )
    )
header = ("algorithm", "tuned", "final gap", "consensus", "vectors/round", "requires", "state")
widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
for row in [header, tuple("-" * w for w in widths), *rows]:
    print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))

# %%
# The same runs at equal cost: each gossip method's gap once it has sent what NIDS sent in
# its 200 rounds.

budget = results["nids"].final["bytes_per_agent"]
for name in ["next", "gradient_tracking", "push_sum", "extra", "nids", "dgd", "dsgd"]:
    _, sent = results[name].curve("bytes_per_agent")
    _, loss = results[name].curve("loss")
    k = np.flatnonzero(sent <= budget)[-1]
    print(f"{name:18s} {sent[k] / 1e3:6.1f} kB  gap {loss[k] - F_star:.1e}")

# %%
# Reading the result
# ------------------
# **Exact or biased.** Gradient tracking, NEXT and push-sum fall in a straight line (on the log
# scale) towards ``F*`` and stay close to centralized gradient descent: after 200 rounds their
# gaps are 1e-10 to 2e-10, centralized's 7e-11, and their consensus error falls with the gap.
# Each agent tracks the *average* gradient, so at a fixed point the agents agree and the
# average gradient is zero: the exact optimum, with a constant step. (With the ring's doubly
# stochastic weights push-sum's weights stay 1 and it reduces to gradient tracking: their
# curves coincide.) EXTRA and NIDS are exact too, and slower per round here (2e-5 and 3e-7)
# partly because the doubling grid left them shorter steps: at ``lr = 2`` EXTRA, and at
# ``lr = 4`` NIDS, oscillate without converging. DGD and DSGD level off: their gaps stay at
# about 6e-4 and 3e-4 (a run of 1500 rounds gives the same numbers) and their agents keep
# disagreeing (consensus error 3e-2). With a constant step, the fixed point of ``X = W X - lr
# G(X)`` has every agent pulled towards its own local optimum; a shorter step shrinks this bias
# but slows everything down. Local SGD is biased in the same way (6e-4): between two averages
# each agent walks towards its own optimum.
#
# **What a round costs.** Per neighbour and round, gradient tracking and NEXT send two vectors
# (the parameters and the gradient tracker), push-sum two plus one number (its weight), and
# EXTRA, NIDS, DGD and DSGD one. Against bytes (right column) EXTRA and NIDS therefore gain a
# factor of two: after 134 kB, NIDS's gap is 3e-7 and gradient tracking's 8e-7. The
# all-reduce methods look cheapest by this count: ``centralized`` sends ``2 (n - 1) / n = 1.75``
# vectors per round (a ring all-reduce) and reaches ``F*`` first; ``local_sgd`` sends 0.44.
# But every all-reduce involves all agents at once and waits for the slowest one, which is
# what gossip avoids: each agent then only ever waits for its neighbours.
#
# **What the weights must be.** ``consensus.ALGORITHMS[name].requires`` says it, and
# :func:`consensus.train` checks it before the first round. In short:
#
# =====================  =======================  ==================  ==============================
# algorithm              reaches ``F*``           sent per neighbour  mixing weights
# =====================  =======================  ==================  ==============================
# ``next``               yes                      2 vectors           doubly stochastic
# ``gradient_tracking``  yes                      2 vectors           doubly stochastic
# ``push_sum``           yes (``tracking=True``)  2 vectors + 1       column stochastic (directed)
# ``extra``, ``nids``    yes                      1 vector            symmetric, doubly stochastic
# ``dgd``, ``dsgd``      no, biased               1 vector            doubly stochastic
# ``local_sgd``          no, biased               all-reduce / H      none (all-reduce only)
# ``centralized``        yes                      all-reduce          none (all-reduce only)
# =====================  =======================  ==================  ==============================
#
# Weights an algorithm cannot use are refused
# -------------------------------------------
# EXTRA and NIDS need symmetric weights: ``W[i, j] = W[j, i]``, agent ``i`` weighs ``j`` as
# ``j`` weighs ``i``. In round ``t`` of the one-peer exponential graph, agent ``i`` averages
# with agent ``i + 2^k`` (``k = t mod log2 n``): it receives from ``i + 2^k`` but sends to
# ``i - 2^k``, so the weights are not symmetric. Concord refuses before the first round, with
# a one-line :class:`~consensus.ConfigError` that says why:

try:
    consensus.train("one_peer_exponential", "extra", lr=1.0, **problem)
except consensus.ConfigError as err:
    print(err)

# %%
# Push-sum on a directed graph
# ----------------------------
# Push-sum needs only column-stochastic weights: every agent splits what it *sends* into shares
# that sum to one, which an agent can do knowing only its own out-neighbours. The static
# ``exponential`` graph is directed (agent ``i`` sends to ``i + 1``, ``i + 2``, ``i + 4``) and
# not symmetric, so EXTRA and NIDS refuse it, but push-sum runs on it and reaches ``F*``:

exponential = topologies.get("exponential", 8)
print(exponential, "| directed:", exponential.graph(0).is_directed())
print("weight properties:", sorted(exponential.properties()))
run = consensus.train(exponential, "push_sum", eval_every=ROUNDS, **problem, **chosen["push_sum"])
print(f"push_sum on exponential: gap {run.final['loss'] - F_star:.1e}")

# %%
# On 8 agents every node of ``exponential`` has as many in- as out-neighbours, so its weights
# happen to be doubly stochastic as well and gradient tracking or NEXT would run on it too. On a
# directed graph whose nodes send to different numbers of peers, only push-sum is left: here a
# directed ring where agent 0 also sends to three more agents.

lopsided = nx.DiGraph()
nx.add_cycle(lopsided, range(8))
lopsided.add_edges_from([(0, 2), (0, 4), (0, 6)])
schedule = topologies.get(lopsided, 8, weights="column_stochastic")
print("weight properties:", sorted(schedule.properties()))
try:
    consensus.train(schedule, "gradient_tracking", lr=0.5, **problem)
except consensus.ConfigError as err:
    print(err)
run = consensus.train(
    schedule, "push_sum", lr=0.5, eval_every=3 * ROUNDS, **{**problem, "rounds": 3 * ROUNDS}
)
print(f"push_sum on the lopsided graph, {3 * ROUNDS} rounds: gap {run.final['loss'] - F_star:.1e}")

# %%
# It needs a shorter step and more rounds there, since the graph mixes poorly (agent 0 hears
# only from agent 7, at the end of a long chain), but its gap keeps falling geometrically.
#
# Next steps
# ----------
# The guide :doc:`/guides/algorithms` gives every update in matrix form, its options and its
# sources; :doc:`plot_01_custom_topologies` shows how to build the graphs.
