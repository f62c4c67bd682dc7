"""The runtime: configuration, launch (python or torchrun), checkpoints, results directory, CLI."""

from .config import RunConfig, parse_config
from .runner import run

__all__ = ["RunConfig", "parse_config", "run"]
