"""Local Sphinx extension of the Concord docs.

* Writes ``docs/_generated/topology_builders.md``, the table of built-in
  topology names, from :data:`topologies.BUILDERS` (so the guide can never
  drift from the code). The guide includes it.
* Writes ``docs/_generated/algorithms.md``, the table of registered algorithms
  with their options, required weights and state, from
  :data:`consensus.ALGORITHMS`, for the algorithms guide.
* Writes ``docs/_generated/run_flags.md``, the table of the flags of
  ``experiments/run.py`` (and the keys of its TOML files), from the fields of
  :class:`consensus.runtime.RunConfig` and their metadata, the same source the
  command line is generated from, for the torchrun guide.
* Warns (an error under ``-W``) when a name in the ``__all__`` of
  ``topologies``, ``consensus`` or ``consensus.runtime`` is missing from its
  page in ``docs/api/``, so new public API gets documented.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parent.parent
GENERATED = DOCS / "_generated"


def _kind(func: Any) -> str:
    import topologies

    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:
        ret = None
    if isinstance(ret, type) and issubclass(ret, topologies.Schedule):
        return "time-varying"
    return "static"


def _spec_value(value: Any) -> str:
    """A default as it is written in a spec: ``none``, ``true``, ``0.3``."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _param_text(param: Any) -> str:
    kind = getattr(param.kind, "__name__", str(param.kind))
    if param.optional:
        kind += " or none"
    if param.required:
        return f"`{param.name}` ({kind}, required)"
    return f"`{param.name}={_spec_value(param.default)}` ({kind})"


def _rst_to_myst(text: str) -> str:
    """The inline reST of a docstring's first line as MyST: ``x`` and :func:`x` -> `x`."""
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return re.sub(r":[\w:]+:`~?([^`]+)`", r"`\1`", text)


def _first_line(func: Any) -> str:
    doc = (func.__doc__ or "").strip().splitlines()
    return _rst_to_myst(doc[0].strip()) if doc else ""


def builders_table() -> str:
    """The built-in names as a MyST table."""
    import topologies

    rows = [
        "| spec | parameters | kind | seeded | what it is |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in sorted(topologies.BUILDERS):
        builder = topologies.BUILDERS[name]
        if not getattr(builder.func, "__module__", "").startswith("topologies."):
            continue  # registered by a user (or by a tutorial run in this process)
        params = ", ".join(_param_text(p) for p in builder.params.values()) or "none"
        seeded = "yes" if builder.takes_seed else "no"
        what = _first_line(builder.func).replace("|", "\\|")
        rows.append(f"| `{name}` | {params} | {_kind(builder.func)} | {seeded} | {what} |")
    return "\n".join(rows) + "\n"


def algorithms_table() -> str:
    """The registered algorithms with their options, weights and state, as a MyST table."""
    import dataclasses

    import consensus

    rows = [
        "| name | class | options (defaults) | weights | state vectors | what it is |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, cls in consensus.ALGORITHMS.items():
        options = ", ".join(f"`{f.name}={f.default!r}`" for f in dataclasses.fields(cls) if f.init)
        weights = ", ".join(p.replace("_", " ") for p in cls.requires) or "any (no gossip)"
        what = _first_line(cls).replace("|", "\\|")
        rows.append(
            f"| `{name}` | {{class}}`~consensus.algorithms.{cls.__name__}` | {options or 'none'} "
            f"| {weights} | {cls.state_vectors} | {what} |"
        )
    return "\n".join(rows) + "\n"


def _flag_default(value: Any) -> str:
    """A RunConfig default as a reader types it: ``off`` for a switch, ``unset`` for None."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def _escape_md(text: str) -> str:
    """Plain help text in a table cell: no accidental links, code, emphasis or columns."""
    return re.sub(r"([\\`*\[\]|<>])", r"\\\1", text)


def run_flags_table() -> str:
    """The flags of ``experiments/run.py`` from :class:`consensus.runtime.RunConfig`, as a MyST table."""
    import dataclasses

    from consensus.runtime.config import RunConfig
    from consensus.runtime.runner import _RESUMABLE  # the fields --resume lets differ

    rows = [
        "| flag | TOML key | type | default | on `--resume` | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type).replace(" | None", "").strip()
        if kind == "bool":
            spelled, kind = f"`{flag}`", "switch"
        else:
            spelled = f"`{flag} {f.name.upper()}`"
        key = "(flag only)" if f.name == "config" else f"`{f.name}`"
        resume = "may change" if f.name in _RESUMABLE else "must match"
        meaning = _escape_md(f.metadata["help"])
        rows.append(
            f"| {spelled} | {key} | {kind} | {_flag_default(f.default)} | {resume} | {meaning} |"
        )
    return "\n".join(rows) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate(app: Sphinx, config: Any) -> None:
    _write_if_changed(GENERATED / "topology_builders.md", builders_table())
    _write_if_changed(GENERATED / "algorithms.md", algorithms_table())
    _write_if_changed(GENERATED / "run_flags.md", run_flags_table())


#: Packages whose ``__all__`` must be listed on their API page, docs/api/<page>.md.
API_PAGES = {"topologies": "topologies", "consensus": "consensus", "consensus.runtime": "runtime"}


def _check_api_coverage(app: Sphinx, config: Any) -> None:
    import importlib

    for package, page_name in API_PAGES.items():
        module = importlib.import_module(package)
        page = DOCS / "api" / f"{page_name}.md"
        text = page.read_text()
        prefix = re.escape(package)
        listed = set(re.findall(rf"^\s{{3,}}~?(?:{prefix}\.)?(\w+)\s*$", text, re.M))
        listed |= set(re.findall(r"^\s*\.\. (?:py:)?data:: (\w+)", text, re.M))
        missing = sorted(set(module.__all__) - listed)
        if missing:
            logger.warning(
                "docs/api/%s.md does not list %s from %s.__all__; "
                "add them to one of its autosummary tables",
                page_name,
                ", ".join(missing),
                package,
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _generate)
    app.connect("config-inited", _check_api_coverage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def tight_matplotlib_scraper(block: Any, block_vars: Any, gallery_conf: Any, **kwargs: Any) -> str:
    """sphinx-gallery's matplotlib scraper, saving with ``bbox_inches="tight"``.

    The same cropping as :func:`topologies.draw` and friends use when they save a file, so
    titles and axis labels are never cut off.
    """
    from sphinx_gallery.scrapers import matplotlib_scraper

    kwargs.setdefault("bbox_inches", "tight")
    return matplotlib_scraper(block, block_vars, gallery_conf, **kwargs)
