"""Mixers: how agents communicate (``mix`` = gossip, ``global_mean`` = exact average).

``DistributedMixer`` lives in :mod:`consensus.mixers.distributed` (it imports torch.distributed).
"""

from .base import Mixer
from .inprocess import InProcessMixer
from .threads import SharedBoard, ThreadBlockMixer

__all__ = ["InProcessMixer", "Mixer", "SharedBoard", "ThreadBlockMixer"]
