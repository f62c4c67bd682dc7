"""The registry of named topology builders, and ``@register``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import TopologyError
from .specs_grammar import CONVERTERS, NONE_WORDS, Param, Signature

__all__ = ["BUILDERS", "CONVERTERS", "NONE_WORDS", "Builder", "Param", "make_builder", "register"]


@dataclass(frozen=True)
class Builder(Signature):
    """A named builder: ``func(n, **params[, seed=...]) -> nx.Graph | Schedule``.

    A :class:`~topologies.grammar.Signature` whose leading argument is the number
    of agents and which may take an injected ``seed``.
    """

    @property
    def takes_seed(self) -> bool:
        """True when the builder is random (takes ``seed``)."""
        return "seed" in self.injected


def make_builder(name: str, func: Callable[..., Any], example: str | None = None) -> Builder:
    """Inspect ``func``'s signature and type hints into a :class:`Builder`."""
    names = list(inspect.signature(func).parameters)
    if not names or names[0] != "n":
        raise TopologyError(
            f"builder {name!r} must take the number of agents n as its first parameter"
        )
    sig = Signature.of(name, func, leading=1, inject=("seed",), example=example)
    return Builder(sig.name, sig.func, sig.params, sig.injected, sig.example)


#: Named builders by name: the built-in graphs and schedules, and what users register.
BUILDERS: dict[str, Builder] = {}


def register(
    name: str, *, overwrite: bool = False, example: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a builder under ``name`` so that specs can use it.

    The function takes the number of agents ``n`` first, then typed keyword
    parameters (``int``, ``float``, ``bool``, ``str``, optionally ``| None``),
    and ``seed`` if it is random. It returns a NetworkX graph (a static
    topology) or a :class:`~topologies.Schedule`. ``example``, a spec that works
    (``"cycle:specs=ring|star"``), is what the error for a missing required
    parameter suggests; without it the error shows placeholders (``name:d=<int>``).

    Examples
    --------
    >>> import networkx as nx, topologies
    >>> @topologies.register("barbell", overwrite=True)
    ... def barbell(n: int, bridge: int = 0) -> nx.Graph:
    ...     return nx.barbell_graph(n // 2, bridge)
    >>> topologies.get("barbell", 8).graph(0).number_of_edges()
    13
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise TopologyError(f"topology name {name!r} must be an identifier like 'my_graph'")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in BUILDERS and not overwrite:
            raise TopologyError(
                f"topology {name!r} is already registered; pass overwrite=True to replace it"
            )
        BUILDERS[name] = make_builder(name, func, example)
        return func

    return decorate
