"""The gossip exchange over thousands of time-varying rounds: no hang, right answer; a dead peer ends the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import topologies
from consensus.mixers import InProcessMixer

from . import workers
from .harness import spawn

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]


@pytest.mark.parametrize("topology", ["random_matching", "link_failure:base=torus,q=0.3"])
def test_thousands_of_time_varying_rounds(tmp_path: Path, topology: str) -> None:
    rounds, n = 2000, 10
    parts = spawn(
        workers.long_exchange, 4, tmp_path, {"agents": n, "topology": topology, "rounds": rounds}
    )
    mixer = InProcessMixer(topologies.get(topology, n, seed=3), dtype=torch.float64)
    gen = np.random.default_rng(0)
    x, y = torch.as_tensor(gen.normal(size=(n, 3))), torch.as_tensor(gen.normal(size=(n, 2)))
    for t in range(rounds):
        x, y = mixer.mix(t, x, y)
    torch.testing.assert_close(torch.cat([p["x"] for p in parts]), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y, rtol=0, atol=1e-12)


@pytest.mark.timeout(120)
def test_a_dead_peer_ends_the_run_with_a_message(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    out = tmp_path / "out"
    out.mkdir()
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=workers.dies_early, args=(r, 2, str(tmp_path / "rdzv"), str(out), {}))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        assert not p.is_alive(), "a worker hung"
    text = (out / "error.txt").read_text()
    seconds, message = text.split(" ", 1)
    assert "rank 1" in message and "round" in message
    assert float(seconds) < 60
