"""Spec strings: one string (or object) resolves to a :class:`Schedule` for n agents.

Grammar::

    spec   := FILE [":" params]                  e.g. cluster.graphml, wiring.edgelist:weights=lazy
            | MODULE ":" ATTRIBUTE [":" params]  e.g. mypkg.graphs:campus, ./graphs.py:campus:weights=lazy
            | NAME [":" params]                  e.g. ring, torus:rows=2,cols=4,weights=max_degree
    params := param ("," param)*
    param  := KEY "=" VALUE | KEY "=(" spec ")"

``NAME`` is a registered builder (``ring``, ``torus``, ``link_failure``, ...) and
takes its own parameters. Every spec also takes ``weights=RULE`` (a name from
:data:`topologies.WEIGHT_RULES`), the only parameter a graph file or a
``MODULE:ATTRIBUTE`` takes. Parentheses nest a spec with its own commas:
``link_failure:base=(torus:rows=2,cols=4),q=0.2``.
"""

from __future__ import annotations

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
from .specs_grammar import parse_params, split_top_level, unknown_name

__all__ = ["SpecLike", "fixed_agents", "get", "parse_params", "split_top_level"]
from .schedules import Cycle, FromCallable, Schedule, StaticSchedule
from .weights import WEIGHT_RULES, WeightRule

SpecLike: TypeAlias = (
    str | os.PathLike | nx.Graph | Schedule | Callable[..., Any] | Sequence[nx.Graph]
)


def _unknown(name: str) -> TopologyError:
    return unknown_name(  # type: ignore[return-value]
        name,
        BUILDERS,
        what="topology",
        error=TopologyError,
        extra="; or give a graph file (.edgelist, .adjlist, .graphml, .gml, .json) or module:function",
    )


def _call_builder(builder: Builder, n: int, raw: dict[str, Any], seed: int) -> Any:
    return builder.call(
        (n,), raw, inject={"seed": seed}, error=TopologyError, also=" (and weights)"
    )


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
    if isinstance(obj, (list, tuple)) and not obj:
        raise TopologyError(f"{name} is empty; give at least one graph")
    if isinstance(obj, (list, tuple)) and all(isinstance(g, nx.Graph) for g in obj):
        if len(obj) == 1:  # one graph in every round: static, so it must be connected
            return StaticSchedule(obj[0], n=n, name=name)
        return Cycle(list(obj), n=n)
    if callable(obj):
        return _from_callable(obj, n, seed, name)
    raise TopologyError(
        f"{name} gave a {type(obj).__name__}; expected a networkx graph, a Schedule, a list of graphs or a function"
    )


def _looks_like_params(text: str) -> bool:
    """``key=value,...`` (as opposed to ``function`` or ``function:key=value``)."""
    first = text.split(",", 1)[0]
    return "=" in first and ":" not in first.partition("=")[0]


def _split_file(text: str) -> tuple[str, str] | None:
    """``FILE [":" params]`` -> ``(file, params)``, or None when ``text`` names no graph file."""
    if is_graph_file(text):
        return text, ""
    for i, ch in enumerate(text):
        if ch != ":" or not is_graph_file(text[:i]):
            continue
        path, rest = text[:i], text[i + 1 :]
        # "graphs.json:campus" may be a module named like a file: only an existing
        # file, or parameters after the colon, make it a graph file.
        if Path(path).is_file() or not rest.strip() or _looks_like_params(rest):
            return path, rest
    return None


def _split_module(text: str) -> tuple[str, str, str] | None:
    """``MODULE ":" ATTRIBUTE [":" params]`` -> its three parts, or None."""
    cut = next(
        (i for i, ch in enumerate(text) if ch == ":" and text[:i].endswith(".py")),
        text.find(":"),
    )
    if cut < 0:
        return None
    module_part, rest = text[:cut].strip(), text[cut + 1 :]
    attr, _, params = rest.partition(":")
    attr = attr.strip()
    if not attr or "=" in attr:
        return None
    if not (module_part.endswith(".py") or "." in module_part or module_part.isidentifier()):
        return None
    return module_part, attr, params


def _weights_only(params_text: str, where: str, what: str) -> str | None:
    """The ``weights=`` of a graph file's or function's parameters, the only one they take."""
    example = f"{where}:weights=max_degree"
    params = parse_params(params_text, where, example=example)
    rule = params.pop("weights", None)
    if params:
        raise TopologyError(
            f"{where}: unknown parameter {next(iter(params))!r}; {what} takes only "
            f"weights=RULE, e.g. {example}"
        )
    return rule


def _object_name(obj: Any) -> str:
    """How messages and plots call an object passed to :func:`get`."""
    if isinstance(obj, Schedule):
        return f"schedule {obj.name!r}"
    if isinstance(obj, nx.Graph):
        return "the given graph"
    if isinstance(obj, (list, tuple)):
        return "the given graph" if len(obj) == 1 else "the given list of graphs"
    return str(getattr(obj, "__name__", type(obj).__name__))


def _parse_string(spec: str, n: int, seed: int) -> tuple[Schedule, str | None]:
    text = spec.strip()
    if not text:
        raise TopologyError("empty topology spec; give e.g. ring, torus or erdos_renyi:p=0.3")
    as_file = _split_file(text)
    if as_file is not None:
        path, params_text = as_file
        name = Path(path).name
        rule = _weights_only(params_text, path, "a graph file")
        return StaticSchedule(read_graph(path), n=n, name=name), rule
    name, _, rest = text.partition(":")
    name = name.strip()
    if name in BUILDERS:
        params = parse_params(rest, name)
        rule = params.pop("weights", None)
        result = _call_builder(BUILDERS[name], n, params, seed)
        label = text if len(text) <= 60 else name
        schedule = _to_schedule(result, n, seed, label)
        if isinstance(result, nx.Graph) and {"rows", "cols"} <= set(result.graph):
            shape = [int(result.graph["rows"]), int(result.graph["cols"])]
            schedule.details["shape"] = shape
            if not ("rows=" in text and "cols=" in text):  # say the shape that was chosen
                schedule.name = f"{label} ({shape[0]} x {shape[1]})"
        return schedule, rule
    as_module = _split_module(text)
    if as_module is not None:
        module_part, attr, params_text = as_module
        if not attr.isidentifier():
            raise TopologyError(f"{attr!r} in {text!r} is not a Python name; write module:function")
        rule = _weights_only(params_text, f"{module_part}:{attr}", "module:function")
        return _to_schedule(_load_attribute(module_part, attr), n, seed, attr), rule
    raise _unknown(name)


def fixed_agents(spec: SpecLike) -> int | None:
    """The number of agents a spec fixes: a graph file's node count, else None.

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "wiring.edgelist")
    >>> nx.write_edgelist(nx.cycle_graph(5), path, data=False)
    >>> fixed_agents(path + ":weights=lazy"), fixed_agents("ring")
    (5, None)
    """
    if not isinstance(spec, (str, os.PathLike)):
        return None
    as_file = _split_file(os.fspath(spec).strip())
    if as_file is None:
        return None
    return int(read_graph(as_file[0]).number_of_nodes())


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
        schedule, rule = _to_schedule(spec, n, seed, _object_name(spec)), None
    rule = weights if weights is not None else rule
    if rule is not None:
        if isinstance(rule, str) and rule not in WEIGHT_RULES:
            raise TopologyError(f"unknown weight rule {rule!r}; known: {', '.join(WEIGHT_RULES)}")
        schedule = schedule.with_weights(rule)
    return schedule
