"""Mixers: how agents communicate (``mix`` = gossip, ``global_mean`` = exact average)."""

from .base import Mixer
from .inprocess import InProcessMixer

__all__ = ["InProcessMixer", "Mixer"]
