"""train(threads=...): torch's thread count is set for the run and put back as found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

import consensus

SMALL: dict[str, Any] = dict(
    agents=4, dataset="wine", model="logistic", rounds=4, eval_every=2, algorithm="dsgd"
)


@pytest.fixture
def outer_threads() -> Iterator[int]:
    """A thread count unlike every value the tests pass, restored after the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(5)
    yield 5
    torch.set_num_threads(before)


@pytest.mark.parametrize(("threads", "expected"), [(None, 5), (1, 1), (3, 3)])
def test_train_applies_the_thread_count_during_the_run_and_restores_it(
    outer_threads: int, threads: int | None, expected: int
) -> None:
    seen: list[int] = []
    kwargs = {} if threads == 1 else {"threads": threads}  # 1 is the default
    consensus.train(**SMALL, on_eval=lambda m: seen.append(torch.get_num_threads()), **kwargs)
    assert seen == [expected, expected]
    assert torch.get_num_threads() == outer_threads


def test_train_restores_the_thread_count_when_the_run_fails(outer_threads: int) -> None:
    def fail(metrics: dict[str, float]) -> None:
        assert torch.get_num_threads() == 2
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        consensus.train(**SMALL, threads=2, on_eval=fail)
    assert torch.get_num_threads() == outer_threads


def test_block_threads_use_the_thread_count_too(outer_threads: int) -> None:
    seen: set[int] = set()

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.add(torch.get_num_threads())  # in whichever Python thread runs the block
        return nn.functional.cross_entropy(out, y, reduction="none")

    consensus.train(**SMALL, loss=loss, blocks=2, threads=2)  # two engines, two threads
    assert seen == {2}
    assert torch.get_num_threads() == outer_threads


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_thread_count_is_one_line(threads: Any) -> None:
    with pytest.raises(consensus.ConfigError, match=r"threads=.* must be a positive integer"):
        consensus.train(**SMALL, threads=threads)
