"""Data: offline datasets, partitions among agents, padded per-agent shards."""

from .datasets import DATASETS, Dataset, load_dataset, load_npz
from .partition import PARTITIONS, partition
from .shards import Shards, make_shards

__all__ = [
    "DATASETS",
    "PARTITIONS",
    "Dataset",
    "Shards",
    "load_dataset",
    "load_npz",
    "make_shards",
    "partition",
]
