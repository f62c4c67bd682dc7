"""Thousands of pipelined passes over gloo point-to-point messages: no deadlock, the simulator's result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.layerparallel.soak import soak_run

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]


def test_two_thousand_rounds_of_varying_schedules(tmp_path: Path) -> None:
    rounds = 2000
    parts = spawn(workers.pipeline_soak, 2, tmp_path, {"rounds": rounds})
    oracle = soak_run(rounds)
    torch.testing.assert_close(
        torch.cat([p["X"] for p in parts], dim=1), oracle, rtol=0, atol=1e-10
    )


def test_a_dead_stage_stops_its_neighbour_with_a_message(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    out = tmp_path / "out"
    out.mkdir()
    mp.start_processes(
        workers.stage_dies, args=(2, str(tmp_path / "rdzv"), str(out), {}), nprocs=2, join=True,
        start_method="spawn",
    )  # fmt: skip
    seconds, message = (out / "error.txt").read_text().split(" ", 1)
    assert "stage 0 of agent block 0" in message and "stage 1" in message, message
    assert message.startswith("round 5:") or message.startswith("round 6:"), message
    assert float(seconds) < 60
