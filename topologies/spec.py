"""Spec strings: one string (or object) resolves to a :class:`Schedule` for n agents.

Grammar::

    spec   := FILE                      e.g. cluster.graphml, wiring.edgelist
            | MODULE ":" ATTRIBUTE      e.g. mypkg.graphs:campus, ./graphs.py:campus
            | NAME [":" param ("," param)*]
    param  := KEY "=" VALUE | KEY "=(" spec ")"

``NAME`` is a registered builder (``ring``, ``torus``, ``link_failure``, ...).
Every spec also takes ``weights=RULE`` (a name from
:data:`topologies.WEIGHT_RULES`). Parentheses nest a spec with its own commas:
``link_failure:base=(torus:rows=2,cols=4),q=0.2``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import networkx as nx

from . import builtins as _builtins  # noqa: F401  (registers the built-in names)
from ._random import check_seed
from .errors import TopologyError
from .files import is_graph_file, read_graph
from .registry import BUILDERS, Builder
from .schedules import Cycle, FromCallable, Schedule, StaticSchedule
from .weights import WEIGHT_RULES, WeightRule

SpecLike: TypeAlias = (
    str | os.PathLike | nx.Graph | Schedule | Callable[..., Any] | Sequence[nx.Graph]
)


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses.

    Examples
    --------
    >>> split_top_level("base=(torus:rows=2,cols=4),q=0.2")
    ['base=(torus:rows=2,cols=4)', 'q=0.2']
    """
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise TopologyError(f"unbalanced ')' in {text!r}; check the parentheses")
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth:
        raise TopologyError(f"unbalanced '(' in {text!r}; check the parentheses")
    parts.append("".join(current).strip())
    return parts


def _unwrap(value: str) -> str:
    value = value.strip()
    if not (value.startswith("(") and value.endswith(")")):
        return value
    depth = 0
    for i, ch in enumerate(value):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(value) - 1:
            return value  # "(a)|(b)": the first "(" closes before the end
    return value[1:-1].strip()


def parse_params(text: str, where: str) -> dict[str, str]:
    """``"a=1,b=(x:y=2)"`` -> ``{"a": "1", "b": "x:y=2"}``."""
    params: dict[str, str] = {}
    if not text.strip():
        return params
    for item in split_top_level(text):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise TopologyError(
                f"{where}: parameter {item!r} is not key=value; write e.g. {where}:p=0.3"
            )
        if key in params:
            raise TopologyError(f"{where}: parameter {key!r} is given twice; give it once")
        params[key] = _unwrap(value)
    return params


def _unknown(name: str) -> TopologyError:
    close = difflib.get_close_matches(name, list(BUILDERS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return TopologyError(
        f"unknown topology {name!r}; {hint}known: {', '.join(sorted(BUILDERS))}; "
        "or give a graph file (.edgelist, .adjlist, .graphml, .gml, .json) or module:function"
    )


def _call_builder(builder: Builder, n: int, raw: dict[str, Any], seed: int) -> Any:
    unknown = sorted(set(raw) - set(builder.params))
    if unknown:
        accepted = ", ".join(builder.params) or "none"
        raise TopologyError(
            f"{builder.name}: unknown parameter {unknown[0]!r}; accepted: {accepted} (and weights)"
        )
    kwargs = {k: builder.params[k].convert(v, builder.name) for k, v in raw.items()}
    missing = [p.name for p in builder.params.values() if p.required and p.name not in kwargs]
    if missing:
        raise TopologyError(
            f"{builder.name}: missing parameter {missing[0]!r}; write e.g. {builder.signature()}"
        )
    if builder.takes_seed:
        kwargs["seed"] = seed
    return builder.func(n, **kwargs)


def _load_attribute(module_part: str, attr: str) -> Any:
    if module_part.endswith(".py"):
        path = Path(module_part)
        if not path.is_file():
            raise TopologyError(f"python file {module_part} does not exist; check the path")
        mod_name = f"_concord_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise TopologyError(f"cannot import {module_part}; check that it is a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            raise TopologyError(
                f"importing {module_part} failed: {type(err).__name__}: {err}"
            ) from None
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as err:
            raise TopologyError(
                f"cannot import module {module_part!r} ({err}); check the name and that it is on PYTHONPATH"
            ) from None
        except Exception as err:
            raise TopologyError(
                f"importing {module_part} failed: {type(err).__name__}: {err}"
            ) from None
    if not hasattr(module, attr):
        raise TopologyError(f"module {module_part!r} has no attribute {attr!r}; check the spelling")
    return getattr(module, attr)


def _from_callable(f: Callable[..., Any], n: int, seed: int, name: str) -> Schedule:
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if "t" in params:
        return FromCallable(f, n=n, seed=seed, name=name)
    kwargs = {k: v for k, v in (("n", n), ("seed", seed)) if k in params}
    try:
        result = f(**kwargs)
    except TopologyError:
        raise
    except Exception as err:
        raise TopologyError(
            f"{name}() raised {type(err).__name__}: {err}; fix the function"
        ) from None
    return _to_schedule(result, n, seed, name)


def _to_schedule(obj: Any, n: int, seed: int, name: str) -> Schedule:
    if isinstance(obj, Schedule):
        if obj.n != n:
            raise TopologyError(f"{name} has {obj.n} agents but there are {n}; use {obj.n} agents")
        return obj
    if isinstance(obj, nx.Graph):
        return StaticSchedule(obj, n=n, name=name)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(g, nx.Graph) for g in obj):
        return Cycle(list(obj), n=n)
    if callable(obj):
        return _from_callable(obj, n, seed, name)
    raise TopologyError(
        f"{name} gave a {type(obj).__name__}; expected a networkx graph, a Schedule, a list of graphs or a function"
    )


def _parse_string(spec: str, n: int, seed: int) -> tuple[Schedule, str | None]:
    text = spec.strip()
    if not text:
        raise TopologyError("empty topology spec; give e.g. ring, torus or erdos_renyi:p=0.3")
    if is_graph_file(text):
        return StaticSchedule(read_graph(text), n=n, name=Path(text).name), None
    name, _, rest = text.partition(":")
    name = name.strip()
    if name in BUILDERS:
        params = parse_params(rest, name)
        rule = params.pop("weights", None)
        result = _call_builder(BUILDERS[name], n, params, seed)
        label = text if len(text) <= 60 else name
        return _to_schedule(result, n, seed, label), rule
    if rest and "=" not in rest and (name.endswith(".py") or "." in name or name.isidentifier()):
        attr = rest.strip()
        if not attr.isidentifier():
            raise TopologyError(f"{attr!r} in {text!r} is not a Python name; write module:function")
        return _to_schedule(_load_attribute(name, attr), n, seed, attr), None
    raise _unknown(name)


def get(
    spec: SpecLike, n: int, *, seed: int = 0, weights: str | WeightRule | None = None
) -> Schedule:
    """Resolve a topology spec to a :class:`Schedule` for ``n`` agents.

    Parameters
    ----------
    spec : str, path, networkx graph, Schedule, callable or list of graphs
        A spec string (see the module docstring), a graph file path, a graph
        (static), a list of graphs (cycled), a function ``f(t) -> graph``
        (time-varying) or ``f() -> graph`` (static), or a ready Schedule.
    n : int
        Number of agents.
    seed : int
        Seed of the random builders and schedules: the same ``(spec, n, seed)``
        gives the same graphs in every process.
    weights : str or callable, optional
        Weight rule; overrides a ``weights=`` in the spec.

    Examples
    --------
    >>> import topologies
    >>> s = topologies.get("torus:rows=2,cols=4", 8)
    >>> s.is_static, s.graph(0).number_of_edges()
    (True, 12)
    >>> topologies.get("link_failure:base=ring,q=0.3", 8, seed=1).is_static
    False
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TopologyError(f"the number of agents must be a positive integer, got {n!r}")
    seed = check_seed(seed)
    rule: str | WeightRule | None
    if isinstance(spec, (str, os.PathLike)):
        schedule, rule = _parse_string(os.fspath(spec), n, seed)
    else:
        schedule, rule = (
            _to_schedule(spec, n, seed, getattr(spec, "__name__", type(spec).__name__)),
            None,
        )
    rule = weights if weights is not None else rule
    if rule is not None:
        if isinstance(rule, str) and rule not in WEIGHT_RULES:
            raise TopologyError(f"unknown weight rule {rule!r}; known: {', '.join(WEIGHT_RULES)}")
        schedule = schedule.with_weights(rule)
    return schedule
