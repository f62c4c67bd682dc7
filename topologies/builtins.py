"""The built-in named topologies: every graph builder and time-varying schedule."""

from __future__ import annotations

import networkx as nx

from . import graphs
from .errors import TopologyError
from .registry import register
from .schedules import (
    Cycle,
    LinkFailure,
    OnePeerExponential,
    RandomMatching,
    ResampledErdosRenyi,
    Schedule,
)

for _name in (
    "ring",
    "path",
    "star",
    "complete",
    "grid",
    "torus",
    "hypercube",
    "exponential",
    "symmetric_exponential",
    "random_regular",
    "erdos_renyi",
    "small_world",
    "random_geometric",
):
    register(_name)(getattr(graphs, _name))


def _static_graph(spec: str, n: int, seed: int, who: str, param: str, example: str) -> nx.Graph:
    """The graph of the nested spec ``spec`` given as ``param=`` of ``who``; it must be static."""
    from .spec import get

    schedule = get(spec, n, seed=seed)
    if not schedule.is_static:
        raise TopologyError(
            f"{who}: {param}={spec!r} must be a static topology; give e.g. {example}"
        )
    return schedule.graph(0)


@register("one_peer_exponential")
def one_peer_exponential(n: int) -> Schedule:
    """Each round i averages with i + 2^(t mod log2 n); exact average after log2 n rounds."""
    return OnePeerExponential(n)


@register("random_matching")
def random_matching(n: int, base: str | None = None, *, seed: int = 0) -> Schedule:
    """A fresh random matching each round (of the complete graph, or of ``base``)."""
    graph = (
        None
        if base is None
        else _static_graph(base, n, seed, "random_matching", "base", "base=torus")
    )
    return RandomMatching(n, base=graph, seed=seed)


@register("resampled_erdos_renyi")
def resampled_erdos_renyi(
    n: int, p: float = 0.3, every: int = 1, connected: bool = False, *, seed: int = 0
) -> Schedule:
    """G(n, p) redrawn every ``every`` rounds."""
    return ResampledErdosRenyi(n, p=p, every=every, seed=seed, connected=connected)


@register("link_failure")
def link_failure(n: int, base: str = "ring", q: float = 0.1, *, seed: int = 0) -> Schedule:
    """Each edge of ``base`` fails with probability ``q`` each round."""
    return LinkFailure(
        _static_graph(base, n, seed, "link_failure", "base", "base=torus"), q=q, seed=seed
    )


@register("cycle", example="cycle:specs=ring|star")
def cycle(n: int, specs: str, *, seed: int = 0) -> Schedule:
    """Cycle through static topologies given as ``specs=ring|star|(torus:rows=2,cols=4)``."""
    from .specs_grammar import split_top_level, unwrap

    parts = [unwrap(s) for s in split_top_level(specs, "|") if s]
    if not parts:
        raise TopologyError("cycle: give specs=a|b|..., e.g. cycle:specs=ring|star")
    graphs = [_static_graph(s, n, seed, "cycle", "specs", "specs=ring|star") for s in parts]
    return Cycle(graphs, n=n)
