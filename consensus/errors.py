"""The exception type of :mod:`consensus`."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot run; the one-line message names the problem and the fix."""
