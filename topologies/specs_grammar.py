"""The spec grammar ``NAME[:key=value,...]``, shared by every registry of named things.

Topologies (``torus:rows=2,cols=4``), models (``mlp:hidden=128-128,act=tanh``) and any
other registry of named callables use the same grammar, conversion and errors::

    spec   := NAME [":" params]
    params := param ("," param)*
    param  := KEY "=" VALUE | KEY "=(" spec ")"      parentheses nest commas

A registry is a plain ``dict[str, Callable]``. Each callable's keyword parameters,
with their type hints and defaults, are the options a spec may set; leading
positional parameters (the number of agents, a dataset) are supplied by the caller,
and so are *injected* ones such as ``seed``. A dataclass works too: its fields are
the options. :func:`resolve` does it all in one call::

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Pipeline:
    ...     micro_batches: int = 4
    ...     schedule: Literal["gpipe", "1f1b"] = "1f1b"
    >>> resolve("pipeline:micro_batches=8", {"pipeline": Pipeline}, what="method")
    Pipeline(micro_batches=8, schedule='1f1b')

Supported option types (``X | None`` makes any of them optional, written ``none``):
``int``, ``float``, ``bool`` (true/false, yes/no, on/off, 1/0), ``str``,
``Literal[...]`` (one of the given strings), ``tuple[int, ...]`` and
``tuple[float, ...]`` written with dashes (``hidden=128-128-128``). Any other
hint is taken as ``str``.

Errors are one line naming the problem and the fix, raised as the ``error`` class the
caller passes (:class:`~topologies.TopologyError`, ``consensus.ConfigError``, ...)::

    unknown model 'mpl'; did you mean 'mlp'? known: cnn, linear, mlp
    mlp: unknown parameter 'hiden'; did you mean 'hidden'? accepted: hidden, act
    mlp: parameter hidden='wide' is not a valid tuple of ints; give e.g. hidden=64-64
    cnn: missing parameter 'channels'; write e.g. cnn:channels=<int>
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from .errors import TopologyError

__all__ = [
    "NONE_WORDS",
    "Param",
    "Signature",
    "format_value",
    "parse_params",
    "parse_spec",
    "resolve",
    "split_top_level",
    "unknown_name",
    "unwrap",
]

#: Words a spec may write for None (for a parameter typed ``X | None``).
NONE_WORDS = {"none", "null", ""}

ErrorType = Callable[[str], Exception]

#: ``tuple[int, ...]`` and ``tuple[float, ...]`` are written with this separator: ``128-128``.
TUPLE_SEP = "-"


def split_top_level(text: str, sep: str = ",", *, error: ErrorType = TopologyError) -> list[str]:
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
                raise error(f"unbalanced ')' in {text!r}; check the parentheses")
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth:
        raise error(f"unbalanced '(' in {text!r}; check the parentheses")
    parts.append("".join(current).strip())
    return parts


def unwrap(value: str) -> str:
    """``"(a,b)"`` -> ``"a,b"``: drop one pair of parentheses around the whole value."""
    value = value.strip()
    if not (value.startswith("(") and value.endswith(")")):
        return value
    depth = 0
    for i, ch in enumerate(value):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(value) - 1:
            return value  # "(a)|(b)": the first "(" closes before the end
    return value[1:-1].strip()


def parse_params(
    text: str, where: str, *, example: str | None = None, error: ErrorType = TopologyError
) -> dict[str, str]:
    """``"a=1,b=(x:y=2)"`` -> ``{"a": "1", "b": "x:y=2"}``.

    ``where`` names the spec in errors; ``example`` is the fix they suggest.
    """
    params: dict[str, str] = {}
    if not text.strip():
        return params
    for item in split_top_level(text, error=error):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise error(
                f"{where}: parameter {item!r} is not key=value; write e.g. {example or where + ':p=0.3'}"
            )
        if key in params:
            raise error(f"{where}: parameter {key!r} is given twice; give it once")
        params[key] = unwrap(value)
    return params


def parse_spec(text: str, *, error: ErrorType = TopologyError) -> tuple[str, dict[str, str]]:
    """``"mlp:hidden=64-64,act=tanh"`` -> ``("mlp", {"hidden": "64-64", "act": "tanh"})``."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    return name, parse_params(rest, name, error=error)


def unknown_name(
    name: str, known: Iterable[str], *, what: str, error: ErrorType = TopologyError, extra: str = ""
) -> Exception:
    """The error for a name not in the registry, with a did-you-mean and the known names."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return error(f"unknown {what} {name!r}; {hint}known: {', '.join(names)}{extra}")


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


def _tuple_item(kind: Any) -> Any | None:
    """``int`` for ``tuple[int, ...]`` (likewise float), else None."""
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in (int, float):
            return args[0]
    return None


def _type_name(kind: Any) -> str:
    item = _tuple_item(kind)
    if item is not None:
        return f"tuple of {item.__name__}s"
    return str(getattr(kind, "__name__", kind))


def format_value(value: Any) -> str:
    """A value as a spec writes it: ``(128, 128)`` -> ``128-128``, None -> ``None``."""
    if isinstance(value, tuple):
        return TUPLE_SEP.join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Param:
    """One option as a spec sees it: its name, type, default and whether it is required.

    ``kind`` is ``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``,
    ``tuple[float, ...]`` or ``str`` with ``choices`` (from a ``Literal``);
    ``optional`` means ``| None``.
    """

    name: str
    kind: Any
    optional: bool
    default: Any
    required: bool
    choices: tuple[str, ...] = ()

    def example(self) -> str:
        """``name=VALUE`` to suggest in an error."""
        if self.choices:
            return f"{self.name}={self.choices[0]}"
        if self.default is not None:
            return f"{self.name}={format_value(self.default)}"
        return f"{self.name}={'64-64' if _tuple_item(self.kind) else 1}"

    def convert(self, text: Any, owner: str, error: ErrorType = TopologyError) -> Any:
        """Convert spec text (or an already-typed value) to this parameter's type."""
        if not isinstance(text, str):
            return text
        if self.optional and text.strip().lower() in NONE_WORDS:
            return None
        if self.choices:
            value = text.strip()
            if value in self.choices:
                return value
            close = difflib.get_close_matches(value, self.choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise error(
                f"{owner}: parameter {self.name}={text!r} is not one of "
                f"{', '.join(self.choices)}; {hint}give e.g. {self.example()}"
            )
        try:
            item = _tuple_item(self.kind)
            if item is not None:
                parts = [p for p in text.strip().split(TUPLE_SEP)]
                if not all(p.strip() for p in parts):
                    raise ValueError(text)
                return tuple(CONVERTERS[item](p) for p in parts)
            return CONVERTERS[self.kind](text)
        except (ValueError, KeyError):
            raise error(
                f"{owner}: parameter {self.name}={text!r} is not a valid {_type_name(self.kind)}; "
                f"give e.g. {self.example()}"
            ) from None


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


#: Names a string annotation may use without its module importing them (``Literal``, ``Optional``).
_TYPING_NAMES: dict[str, Any] = {k: getattr(typing, k) for k in typing.__all__}


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of ``func`` (a class: its fields), evaluating what can be evaluated."""
    try:
        return typing.get_type_hints(func, localns=_TYPING_NAMES)
    except Exception:
        pass
    # One unresolvable annotation (a type local to a function) must not lose the others.
    owners = list(reversed(func.__mro__)) if isinstance(func, type) else [func]
    raw: dict[str, Any] = {}
    for owner in owners:
        raw.update(getattr(owner, "__annotations__", {}))
    module = inspect.getmodule(func)
    scope = dict(vars(module)) if module else {}
    out: dict[str, Any] = {}
    for name, hint in raw.items():
        if isinstance(hint, str):
            try:
                hint = eval(hint, scope, _TYPING_NAMES)  # an annotation, from the caller's code
            except Exception:
                continue
        out[name] = hint
    return out


def _infer(default: Any) -> Any:
    """The type of an unannotated (or unresolvable) parameter, from its default."""
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    if isinstance(default, tuple) and default:
        for item in (int, float):
            if all(type(v) is item for v in default):
                return tuple[item, ...]  # type: ignore[valid-type]
    return str


def _param(name: str, p: inspect.Parameter, hints: dict[str, Any]) -> Param:
    required = p.default is inspect.Parameter.empty
    default = None if required else p.default
    kind, optional = _unwrap_optional(hints[name] if name in hints else _infer(default))
    optional = optional or (name not in hints and default is None and not required)
    choices: tuple[str, ...] = ()
    if typing.get_origin(kind) is Literal:
        choices = tuple(str(c) for c in typing.get_args(kind))
        kind = str
    elif kind not in CONVERTERS and _tuple_item(kind) is None:
        kind = str
    return Param(name, kind, optional, default, required, choices)


@dataclass(frozen=True)
class Signature:
    """A named callable with the options a spec may set.

    ``func(*args, **options, **injected)``: ``leading`` positional parameters come
    from the caller (the number of agents, a dataset), ``injected`` keyword ones
    too when the function takes them (``seed``); the rest are options (``params``).
    """

    name: str
    func: Callable[..., Any]
    params: dict[str, Param]
    injected: frozenset[str] = frozenset()
    example: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        func: Callable[..., Any],
        *,
        leading: int = 0,
        inject: Iterable[str] = ("seed",),
        example: str | None = None,
    ) -> Signature:
        """Inspect ``func``'s signature and type hints (a dataclass: its fields)."""
        sig = inspect.signature(func)
        hints = _hints(func)
        injectable = set(inject)
        params: dict[str, Param] = {}
        injected: set[str] = set()
        for k, (pname, p) in enumerate(sig.parameters.items()):
            if k < leading or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if pname in injectable:
                injected.add(pname)
                continue
            params[pname] = _param(pname, p, hints)
        return cls(name, func, params, frozenset(injected), example)

    def signature(self) -> str:
        """``name:key=default,...``, the spec with its defaults (``?`` for a required parameter)."""
        parts = [
            f"{p.name}={'?' if p.required else format_value(p.default)}"
            for p in self.params.values()
        ]
        return self.name + (":" + ",".join(parts) if parts else "")

    def usage(self) -> str:
        """A spec to suggest in errors: ``example``, or the required parameters as ``name:d=<int>``."""
        if self.example:
            return self.example
        required = [f"{p.name}=<{_type_name(p.kind)}>" for p in self.params.values() if p.required]
        return self.name + (":" + ",".join(required) if required else "")

    def bind(
        self, raw: Mapping[str, Any], *, error: ErrorType = TopologyError, also: str = ""
    ) -> dict[str, Any]:
        """Spec parameters -> typed keyword arguments; unknown, mistyped or missing ones raise ``error``.

        ``also`` is appended to the accepted list in the unknown-parameter error
        (``" (and weights)"`` for a parameter the caller handles itself).
        """
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(self.params), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            accepted = ", ".join(self.params) or "none"
            raise error(
                f"{self.name}: unknown parameter {unknown[0]!r}; {hint}accepted: {accepted}{also}"
            )
        kwargs = {k: self.params[k].convert(v, self.name, error) for k, v in raw.items()}
        missing = [p.name for p in self.params.values() if p.required and p.name not in kwargs]
        if missing:
            raise error(f"{self.name}: missing parameter {missing[0]!r}; write e.g. {self.usage()}")
        return kwargs

    def call(
        self,
        args: tuple[Any, ...],
        raw: Mapping[str, Any],
        *,
        inject: Mapping[str, Any] | None = None,
        error: ErrorType = TopologyError,
        also: str = "",
    ) -> Any:
        """``func(*args, **bind(raw), **inject)``, passing only the injected names it takes."""
        kwargs = self.bind(raw, error=error, also=also)
        for key, value in (inject or {}).items():
            if key in self.injected:
                kwargs[key] = value
        return self.func(*args, **kwargs)


def resolve(
    spec: str,
    registry: Mapping[str, Callable[..., Any] | Signature],
    *,
    what: str,
    error: ErrorType = TopologyError,
    args: tuple[Any, ...] = (),
    inject: Mapping[str, Any] | None = None,
    examples: Mapping[str, str] | None = None,
    extra: str = "",
) -> Any:
    """Parse ``NAME[:key=value,...]``, look ``NAME`` up in ``registry`` and call it.

    Parameters
    ----------
    spec : str
        The spec text, e.g. ``"mlp:hidden=128-128,act=tanh"``.
    registry : dict of name -> callable (or dataclass, or :class:`Signature`)
        The callables' typed keyword parameters (a dataclass's fields) are the options.
    what : str
        What a name is, for errors: ``"model"`` gives ``unknown model 'x'; ...``.
    error : exception class
        Raised, with one line naming the problem and the fix, on any bad input.
    args : tuple
        Leading positional arguments passed to every callable (not options),
        e.g. ``(dataset,)``.
    inject : dict, optional
        Keyword arguments passed to the callables that take them (not options),
        e.g. ``{"seed": 0}``.
    examples : dict, optional
        Name -> a spec that works, suggested when a required option is missing.
    extra : str
        Appended to the unknown-name error, e.g. ``"; or pass an nn.Module"``.

    Examples
    --------
    >>> def mlp(width: int, hidden: tuple[int, ...] = (64,), act: str = "relu"):
    ...     return (width, hidden, act)
    >>> resolve("mlp:hidden=128-128", {"mlp": mlp}, what="model", args=(8,))
    (8, (128, 128), 'relu')
    >>> resolve("mpl", {"mlp": mlp}, what="model", error=ValueError)
    Traceback (most recent call last):
    ...
    ValueError: unknown model 'mpl'; did you mean 'mlp'? known: mlp
    """
    if not isinstance(spec, str) or not spec.strip():
        raise error(f"empty {what} spec; give e.g. {next(iter(registry), 'name')}")
    name, params = parse_spec(spec, error=error)
    if name not in registry:
        raise unknown_name(name, registry, what=what, error=error, extra=extra)
    entry = registry[name]
    sig = (
        entry
        if isinstance(entry, Signature)
        else Signature.of(
            name,
            entry,
            leading=len(args),
            inject=inject or (),
            example=(examples or {}).get(name),
        )
    )
    return sig.call(args, params, inject=inject, error=error)
