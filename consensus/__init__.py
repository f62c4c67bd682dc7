"""Concord's training engine: stacked agents, decentralized algorithms, mixers, the simulator.

>>> import consensus
>>> result = consensus.train("ring", "next", agents=4, dataset="iris", model="logistic", rounds=10, eval_every=5)
>>> sorted(result.final)[:3]
['agents_test_accuracy', 'bytes_per_agent', 'consensus_error']
"""

from .algorithms import ALGORITHMS, Algorithm, Context, make
from .api import Result, build_engine, train
from .data import DATASETS, PARTITIONS, Dataset, load_dataset, partition
from .engine import Engine, NonFiniteError
from .errors import ConfigError
from .losses import LOSSES, Loss
from .mixers import InProcessMixer, Mixer
from .models import MODELS, ParamLayout
from .regularizers import Regularizer

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
