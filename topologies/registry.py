"""The registry of named topology builders, and ``@register``."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from .errors import TopologyError

NONE_WORDS = {"none", "null", ""}


def _to_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in {"true", "1", "yes", "on"}:
        return True
    if low in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _to_int(text: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{text!r} is not an integer")
    return int(value)


#: Parameter type -> converter from spec text.
CONVERTERS: dict[Any, Callable[[str], Any]] = {int: _to_int, float: float, bool: _to_bool, str: str}


@dataclass(frozen=True)
class Param:
    """One builder parameter as a spec sees it."""

    name: str
    kind: Any
    optional: bool
    default: Any
    required: bool

    def convert(self, text: Any, builder: str) -> Any:
        """Convert spec text (or an already-typed value) to this parameter's type."""
        if not isinstance(text, str):
            return text
        if self.optional and text.strip().lower() in NONE_WORDS:
            return None
        try:
            return CONVERTERS[self.kind](text)
        except (ValueError, KeyError):
            raise TopologyError(
                f"{builder}: parameter {self.name}={text!r} is not a valid {getattr(self.kind, '__name__', self.kind)}; "
                f"give e.g. {self.name}={self.default if self.default is not None else 1}"
            ) from None


@dataclass(frozen=True)
class Builder:
    """A named builder: ``func(n, **params[, seed=...]) -> nx.Graph | Schedule``."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Param]
    takes_seed: bool
    example: str | None = None

    def signature(self) -> str:
        """``name:key=default,...``, the spec with its defaults (``?`` for a required parameter)."""
        parts = [f"{p.name}={'?' if p.required else p.default}" for p in self.params.values()]
        return self.name + (":" + ",".join(parts) if parts else "")

    def usage(self) -> str:
        """A spec to suggest in errors: ``example``, or the required parameters as ``name:d=<int>``."""
        if self.example:
            return self.example
        required = [
            f"{p.name}=<{getattr(p.kind, '__name__', 'value')}>"
            for p in self.params.values()
            if p.required
        ]
        return self.name + (":" + ",".join(required) if required else "")


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def make_builder(name: str, func: Callable[..., Any], example: str | None = None) -> Builder:
    """Inspect ``func``'s signature and type hints into a :class:`Builder`."""
    sig = inspect.signature(func)
    names = list(sig.parameters)
    if not names or names[0] != "n":
        raise TopologyError(
            f"builder {name!r} must take the number of agents n as its first parameter"
        )
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    params: dict[str, Param] = {}
    for pname, p in list(sig.parameters.items())[1:]:
        if pname == "seed" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        kind, optional = _unwrap_optional(hints.get(pname, str))
        if kind not in CONVERTERS:
            kind = str
        required = p.default is inspect.Parameter.empty
        params[pname] = Param(pname, kind, optional, None if required else p.default, required)
    return Builder(name, func, params, "seed" in sig.parameters, example)


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
