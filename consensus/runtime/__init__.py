"""The runtime: configuration, launch (python or torchrun), checkpoints, results directory, CLI.

:func:`run` is imported on first use, so parsing a command line does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import RunConfig, parse_config

if TYPE_CHECKING:
    from .runner import run


def __getattr__(name: str) -> Any:
    if name == "run":
        from .runner import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RunConfig", "parse_config", "run"]
