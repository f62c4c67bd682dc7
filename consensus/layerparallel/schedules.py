"""Pipeline schedules: the order in which each stage runs forwards and backwards of micro-batches.

A schedule is a list of actions per stage, ``("F", m)`` or ``("B", m)``. The
lists are deterministic, so the in-process simulator and the processes of a
mesh run exactly the same computations in the same order (the same
floating-point sums). Each stage's gradient is accumulated in the order of its
backward actions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Action = tuple[str, int]
#: ``(stages, microbatches) -> actions of every stage``.
ScheduleFn = Callable[[int, int], list[list[Action]]]


def gpipe(stages: int, microbatches: int) -> list[list[Action]]:
    """All forwards, then all backwards (Huang et al. 2019): M activations live per stage.

    Examples
    --------
    >>> gpipe(2, 2)
    [[('F', 0), ('F', 1), ('B', 0), ('B', 1)], [('F', 0), ('F', 1), ('B', 0), ('B', 1)]]
    """
    one = [("F", m) for m in range(microbatches)] + [("B", m) for m in range(microbatches)]
    return [list(one) for _ in range(stages)]


def one_f_one_b(stages: int, microbatches: int) -> list[list[Action]]:
    """1F1B (PipeDream-flush, Narayanan et al. 2019): after a warm-up of S - s - 1 forwards,
    stage s alternates one forward and one backward, so at most S - s activations live.

    Examples
    --------
    >>> one_f_one_b(2, 3)
    [[('F', 0), ('F', 1), ('B', 0), ('F', 2), ('B', 1), ('B', 2)], [('F', 0), ('B', 0), ('F', 1), ('B', 1), ('F', 2), ('B', 2)]]
    """
    out = []
    for s in range(stages):
        warmup = min(stages - s - 1, microbatches)
        actions: list[Action] = [("F", m) for m in range(warmup)]
        for i in range(microbatches - warmup):
            actions += [("F", warmup + i), ("B", i)]
        actions += [("B", m) for m in range(microbatches - warmup, microbatches)]
        out.append(actions)
    return out


#: Schedule name -> schedule.
SCHEDULES: dict[str, ScheduleFn] = {"gpipe": gpipe, "1f1b": one_f_one_b}


def idle_fraction(stages: int, microbatches: int) -> float:
    """The bubble of a synchronous pipeline with equal stage costs: ``(S - 1) / (M + S - 1)``."""
    return (stages - 1) / (microbatches + stages - 1)


class Scheduled(Protocol):
    """A method whose (serial) passes run the exact pipeline: its schedule and micro-batches."""

    @property
    def schedule(self) -> str: ...

    @property
    def microbatches(self) -> int: ...
