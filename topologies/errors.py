"""The one exception type of :mod:`topologies`."""

from __future__ import annotations


class TopologyError(ValueError):
    """A topology, schedule or mixing matrix that cannot be used.

    The message is one line: it names the problem and how to fix it.

    Examples
    --------
    >>> import topologies
    >>> try:
    ...     topologies.get("rign", 8)
    ... except topologies.TopologyError as err:
    ...     print(str(err).split(";")[0])
    unknown topology 'rign'
    """


class TopologyWarning(UserWarning):
    """A topology that was built, but not quite as asked: a torus of a prime number of agents is a ring.

    The message is one line saying what was built and how to get what was meant.
    """
