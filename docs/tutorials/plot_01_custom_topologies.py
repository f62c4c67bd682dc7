"""
Custom topologies
=================

Concord's agents only talk to their neighbours in a graph, and the graph decides how fast
gossip brings them to agreement. This tutorial builds a graph three ways (a built-in spec, a
file with your own wiring, a Python function), checks it, looks at its spectral gap and its
picture, and then makes it change from round to round.

Everything here lives in the ``topologies`` package, which needs no torch.
"""

# %%
# A built-in spec
# ---------------
# :func:`topologies.get` turns a *spec* into a :class:`~topologies.Schedule` for ``n`` agents.
# The simplest spec is a built-in name with parameters: here a 4 x 4 torus (a grid whose rows
# and columns wrap around).

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

import topologies

torus = topologies.get("torus:rows=4,cols=4", 16)
print(torus)
print("spectral gap:", round(topologies.spectral_gap(torus.weights(0)), 4))

# %%
# A schedule gives, for every round ``t``, a graph ``graph(t)`` and its mixing matrix
# ``weights(t)``, a sparse ``n x n`` matrix ``W``. One gossip round replaces every agent's
# value by ``x <- W x``: row ``i`` of ``W`` is what agent ``i`` receives, ``W[i, j]`` being the
# weight it puts on agent ``j``. The torus uses Metropolis weights by default: every agent has
# four neighbours and keeps one fifth for itself.

W = torus.dense(0)
print("row 0:", W[0].round(2))
print("agent 0 receives from", sorted(torus.graph(0).neighbors(0)))

# %%
# The names that a spec can start with, and the parameters of one of them:

print(topologies.names())
print(topologies.BUILDERS["link_failure"].signature())

# %%
# :func:`topologies.draw` pictures a round: the node labels are the agents, a torus sits on its
# lattice (the dashed stubs are the wrap-around links), and since every weight of this torus is
# the same, one line under the picture gives it instead of a label on each edge.

ax = topologies.draw(torus)

# %%
# Your own wiring, from a file
# ----------------------------
# Say the 16 agents run on two racks of eight machines. Inside a rack the machines form a ring;
# two uplinks join the racks. Write that wiring with NetworkX as an edge list (any of
# ``.edgelist``, ``.adjlist``, ``.graphml``, ``.gml`` or node-link ``.json`` works) and give
# the file's path as the spec. Nodes must be labelled ``0..n-1``: node ``i`` is agent ``i``.

wiring = nx.Graph()
for rack in (0, 8):
    nx.add_cycle(wiring, range(rack, rack + 8))
wiring.add_edges_from([(0, 8), (4, 12)])  # the uplinks

workdir = Path(tempfile.mkdtemp())
wiring_file = workdir / "two_racks.edgelist"
nx.write_edgelist(wiring, wiring_file, data=False)
print(wiring_file.read_text().splitlines()[:3], "...")

racks = topologies.get(wiring_file, 16)
print(racks)

# %%
# :func:`~topologies.draw` places the nodes by itself; where you know better, give it the
# positions: here each rack as a circle, with the uplinks on top and at the bottom.

pos = {}
for rack, centre, turn in ((0, -1.3, -1), (8, 1.3, 1)):
    for k in range(8):
        angle = np.pi / 2 + turn * 2 * np.pi * k / 8
        pos[rack + k] = (centre + np.cos(angle), np.sin(angle))
ax = topologies.draw(racks, pos=pos)

# %%
# Your own wiring, from a Python function
# ---------------------------------------
# A function works too: pass it to :func:`topologies.get` directly. Concord calls it *by
# parameter name*: it gets ``n=`` and ``seed=`` if it has parameters with those names, and a
# function with a parameter ``t`` is called once per round (a time-varying topology, see
# below). Draw any randomness from ``seed`` so that every process builds the same graph.


def ring_with_chords(n, seed):
    """A ring plus a random chord from every fourth agent."""
    rng = np.random.default_rng(seed)
    graph = nx.cycle_graph(n)
    for i in range(0, n, 4):
        graph.add_edge(i, int((i + rng.integers(2, n - 1)) % n))
    return graph


chords = topologies.get(ring_with_chords, 16, seed=3)
print(chords)

# %%
# In a config file or on the command line, where there is no Python object to pass, the same
# function is named as ``module:function`` (a module on ``PYTHONPATH``, e.g.
# ``mypkg.graphs:ring_with_chords``) or as ``path/to/file.py:function``:

source = """
import networkx as nx
import numpy as np


def ring_with_chords(n, seed):
    rng = np.random.default_rng(seed)
    graph = nx.cycle_graph(n)
    for i in range(0, n, 4):
        graph.add_edge(i, int((i + rng.integers(2, n - 1)) % n))
    return graph
"""
(workdir / "my_graphs.py").write_text(source)
same = topologies.get(f"{workdir}/my_graphs.py:ring_with_chords", 16, seed=3)
print(sorted(same.graph(0).edges()) == sorted(chords.graph(0).edges()))

# Any importable function works, here one of NetworkX's own (it takes neither n nor seed):
print(topologies.get("networkx:petersen_graph", 10))

# %%
# Checking a topology
# -------------------
# Every schedule already refuses a disconnected static graph and a matrix that is negative or
# neither row- nor column-stochastic. What else an algorithm needs, you check:
# :func:`~topologies.check_weights` raises a one-line :class:`~topologies.TopologyError`
# unless the matrix has the listed properties, :func:`~topologies.check_connected` unless the
# graph is connected, and :meth:`Schedule.properties() <topologies.Schedule.properties>` lists
# what holds.

topologies.check_weights(racks.weights(0), ["doubly_stochastic", "symmetric", "nonnegative"])
topologies.check_connected(racks.graph(0))
print(sorted(racks.properties()))

# %%
# The weight rule is part of the spec (``ring:weights=max_degree``) or a keyword of ``get``.
# Column-stochastic weights (push-sum) are not doubly stochastic on the racks, whose degrees
# differ, and the check says where:

pushsum = topologies.get(wiring_file, 16, weights="column_stochastic")
print(sorted(pushsum.properties()))
try:
    topologies.check_weights(pushsum.weights(0), ["doubly_stochastic"])
except topologies.TopologyError as err:
    print(err)

# %%
# A disconnected graph is refused with the agent that is cut off:

broken = wiring.copy()
broken.remove_edges_from([(0, 8), (4, 12)])
try:
    topologies.get(broken, 16)
except topologies.TopologyError as err:
    print(err)

# %%
# Spectral gap
# ------------
# The spectral gap ``1 - ||W - J||`` (``J`` the exact average) says how fast gossip mixes:
# after ``k`` rounds the disagreement between agents shrinks by at least ``(1 - gap)^k``. One
# is perfect (one round averages), zero is no mixing. The two uplinks are a bottleneck: our
# racks mix only a little better than one ring of 16. (The 4 x 4 torus and the 16-node
# hypercube tie because they are the same graph, numbered differently.)

schedules = {
    "ring": topologies.get("ring", 16),
    "two racks (file)": racks,
    "ring_with_chords (function)": chords,
    "torus:rows=4,cols=4": torus,
    "hypercube": topologies.get("hypercube", 16),
    "symmetric_exponential": topologies.get("symmetric_exponential", 16),
    "erdos_renyi:p=0.3": topologies.get("erdos_renyi:p=0.3", 16, seed=0),
    "complete": topologies.get("complete", 16),
}
print(f"{'topology (n = 16)':30s} {'edges':>5s} {'spectral gap':>12s}")
for name, schedule in schedules.items():
    edges = schedule.graph(0).number_of_edges()
    gap = topologies.spectral_gap(schedule.weights(0))
    print(f"{name:30s} {edges:5d} {gap:12.4f}")

# %%
# How the gap falls as the number of agents grows is what decides a topology for a large run:
# like ``1/n^2`` on a ring, ``1/n`` on a torus, ``1/log n`` on a hypercube or exponential graph,
# and not at all on a complete graph (which costs ``n - 1`` messages per agent per round).

sizes = [2**k for k in range(2, 9)]  # 4 .. 256 agents
specs = ["ring", "torus", "hypercube", "symmetric_exponential", "complete", "erdos_renyi"]
ax = topologies.plot_spectral_gap(specs, sizes)
ax.set_title("spectral gap against the number of agents")

# %%
# Time-varying topologies
# -----------------------
# In a real cluster links fail. ``link_failure`` drops every link of a base graph with
# probability ``q`` in every round and recomputes the weights on the links that are left.
# :func:`~topologies.draw_rounds` shows a few rounds side by side.

flaky = topologies.get("link_failure:base=torus,q=0.3", 16, seed=4)
print(flaky)
fig = topologies.draw_rounds(flaky, rounds=4)

# %%
# A round on its own may be disconnected; what the algorithms need is that the union of every
# window of ``B`` consecutive rounds is connected (*B-connectivity*).
# :func:`~topologies.check_b_connected` raises unless it holds, and
# :func:`~topologies.smallest_window` finds the smallest ``B``:

print("rounds 0..3 connected:", [topologies.is_connected(flaky.graph(t)) for t in range(4)])
topologies.check_b_connected(flaky, window=4)
print("smallest window B:", topologies.smallest_window(flaky))

# %%
# Two schedules are disconnected in *every* round by design, and cheap for that: in
# ``random_matching`` the agents pair up at random and average with their partner, and in
# ``one_peer_exponential`` agent ``i`` averages with agent ``i + 2^(t mod log2 n)``. Each agent
# talks to one peer per round. Each picture's title has the gap of its round; the figure's title
# has the gap of the product of the rounds drawn (one period for ``one_peer_exponential``).

matching = topologies.get("random_matching", 16, seed=0)
fig = topologies.draw_rounds(matching, rounds=4)
print("random_matching, smallest window B:", topologies.smallest_window(matching))

one_peer = topologies.get("one_peer_exponential", 16)
fig = topologies.draw_rounds(one_peer, rounds=4)
print("one_peer_exponential, smallest window B:", topologies.smallest_window(one_peer))

# %%
# Each round of ``one_peer_exponential`` mixes badly on its own (spectral gap near 0), but any
# ``log2 n`` consecutive rounds multiply to the exact average: the contraction of the window,
# :func:`~topologies.window_contraction`, reaches 0 at ``B = log2 16 = 4``, while a random
# matching's only shrinks geometrically.

windows = range(1, 9)
exact = [topologies.window_contraction(one_peer, start=0, length=b) for b in windows]
random_pairs = [topologies.window_contraction(matching, start=0, length=b) for b in windows]
print("one_peer_exponential:", np.round(exact, 4))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(windows, exact, marker="o", label="one_peer_exponential")
ax.plot(windows, random_pairs, marker="s", label="random_matching")
ax.axvline(np.log2(16), color="gray", ls=":", lw=1)
ax.set_xlabel("window length B (rounds)")
ax.set_ylabel(r"contraction of $W_{B-1} \cdots W_0$")
ax.set_title("16 agents: mixing over a window of rounds")
ax.legend()

# %%
# The product of the four matrices is the averaging matrix ``J`` (every entry 1/16):

P = topologies.product([one_peer.weights(t) for t in range(4)]).toarray()
print("largest |P - J|:", np.abs(P - 1 / 16).max())

# %%
# A time-varying topology of your own
# -----------------------------------
# A function with a parameter ``t`` is a time-varying topology. To give it a spec name with
# parameters, register a builder with :func:`topologies.register`: it takes ``n`` first, then
# typed parameters, and returns a graph (static) or a :class:`~topologies.Schedule`, here a
# :class:`~topologies.FromCallable` of the function of ``t``.
#
# Our builder models maintenance: in round ``t`` agent ``t mod n`` is offline and all its links
# are down. Its ``base`` parameter is itself a spec, resolved with :func:`topologies.get`.


@topologies.register("maintenance", overwrite=True)
def maintenance(n: int, base: str = "ring", *, seed: int = 0) -> topologies.Schedule:
    """Agent ``t mod n`` is offline in round ``t``."""
    graph = topologies.get(base, n, seed=seed).graph(0)

    def round_graph(t):
        down = graph.copy()
        down.remove_edges_from(list(graph.edges(t % n)))
        return down

    return topologies.FromCallable(round_graph, n=n, seed=seed, name="maintenance")


print(topologies.BUILDERS["maintenance"].signature())

# %%
# Now it is a spec like any other. A nested spec with commas goes in parentheses. No round is
# connected (one agent is always cut off), but any two consecutive rounds are:

offline = topologies.get("maintenance:base=(torus:rows=4,cols=4)", 16)
print(offline)
print("round 0 connected:", topologies.is_connected(offline.graph(0)))
print("smallest window B:", topologies.smallest_window(offline))
print("weights every round:", sorted(offline.properties(rounds=16)))
fig = topologies.draw_rounds(offline, rounds=4)

# %%
# Next steps
# ----------
# The full spec grammar, every built-in name with its parameters, the weight rules and what
# each check means are in the guide :doc:`/guides/topology_specs`.
