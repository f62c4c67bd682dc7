"""Mixers: how agents communicate (``mix`` = gossip, ``global_mean`` = exact average)."""

from .base import Mixer
from .inprocess import InProcessMixer
from .threads import SharedBoard, ThreadBlockMixer

__all__ = ["InProcessMixer", "Mixer", "SharedBoard", "ThreadBlockMixer"]
