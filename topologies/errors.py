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
