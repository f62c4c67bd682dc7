"""Spawn gloo worker processes with a file:// rendezvous in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp


def spawn(
    fn: Callable[..., None], world: int, tmp_path: Path, options: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run ``fn(rank, world, rendezvous, out, options)`` in ``world`` processes; return each rank's saved dict."""
    out = tmp_path / f"out{world}"
    out.mkdir(parents=True, exist_ok=True)
    rendezvous = str(tmp_path / f"rdzv{world}")
    mp.start_processes(
        fn,
        args=(world, rendezvous, str(out), options),
        nprocs=world,
        join=True,
        start_method="spawn",
    )
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(world)]
