"""Concord's training engine: stacked agents, decentralized algorithms, mixers, the simulator.

>>> import consensus
>>> result = consensus.train("ring", "next", agents=4, dataset="iris", model="logistic", rounds=10, eval_every=5)
>>> sorted(result.final)[:3]
['agents_test_accuracy', 'bytes_per_agent', 'consensus_error']

The names below are imported on first use (PEP 562), so ``import consensus`` and the command
line's ``--help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .algorithms import ALGORITHMS, Algorithm, Context, make
    from .api import Result, build_engine, train
    from .data import DATASETS, PARTITIONS, Dataset, load_dataset, partition
    from .engine import Engine, NonFiniteError
    from .losses import LOSSES, Loss
    from .mixers import InProcessMixer, Mixer
    from .models import MODELS, ParamLayout
    from .regularizers import Regularizer

# Public name -> the submodule that defines it.
_LAZY = {
    "ALGORITHMS": "algorithms",
    "Algorithm": "algorithms",
    "Context": "algorithms",
    "make": "algorithms",
    "Result": "api",
    "build_engine": "api",
    "train": "api",
    "DATASETS": "data",
    "PARTITIONS": "data",
    "Dataset": "data",
    "load_dataset": "data",
    "partition": "data",
    "Engine": "engine",
    "NonFiniteError": "engine",
    "LOSSES": "losses",
    "Loss": "losses",
    "InProcessMixer": "mixers",
    "Mixer": "mixers",
    "MODELS": "models",
    "ParamLayout": "models",
    "Regularizer": "regularizers",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ALGORITHMS",
    "DATASETS",
    "LOSSES",
    "MODELS",
    "PARTITIONS",
    "Algorithm",
    "ConfigError",
    "Context",
    "Dataset",
    "Engine",
    "InProcessMixer",
    "Loss",
    "Mixer",
    "NonFiniteError",
    "ParamLayout",
    "Regularizer",
    "Result",
    "build_engine",
    "load_dataset",
    "make",
    "partition",
    "train",
]
