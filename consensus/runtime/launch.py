"""Launch-mode detection and process-group setup (torchrun or plain python)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class Launch:
    """Where this process stands: rank, world size, local rank, whether torchrun restarted it."""

    rank: int
    world: int
    local_rank: int
    restarted: bool

    @property
    def distributed(self) -> bool:
        """True under torchrun (even with one process)."""
        return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def detect() -> Launch:
    """Read torchrun's environment variables (absent: one process hosts everything)."""
    env = os.environ
    return Launch(
        rank=int(env.get("RANK", 0)),
        world=int(env.get("WORLD_SIZE", 1)),
        local_rank=int(env.get("LOCAL_RANK", 0)),
        restarted=int(env.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0,
    )


def device_for(requested: str, launch: Launch) -> torch.device:
    """The device of this process; cuda gets one GPU per local rank, set before any communication."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested != "cuda":
        raise ConfigError(f"unknown device {requested!r}; use cpu or cuda")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda asked but no CUDA device is available; use --device cpu")
    if launch.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"local rank {launch.local_rank} has no GPU ({torch.cuda.device_count()} visible); use --nproc-per-node <= GPUs"
        )
    torch.cuda.set_device(launch.local_rank)
    return torch.device("cuda", launch.local_rank)


_STORE: dist.Store | None = None


def rendezvous_store(timeout: float) -> dist.Store:
    """This launch's key-value store (torchrun's, or one rank 0 hosts), shared by every use in the process.

    The keys live under a prefix unique to the restart attempt: after a torchrun
    restart, a worker could otherwise read the address a dead worker of the
    previous attempt left in the store and wait forever to connect to it.
    """
    global _STORE
    if _STORE is None:
        wait = datetime.timedelta(seconds=max(timeout, 30.0))
        env = os.environ
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
        store = dist.TCPStore(
            env.get("MASTER_ADDR", "127.0.0.1"), int(env.get("MASTER_PORT", "29500")), world,
            is_master=rank == 0 and not agent_store, timeout=wait,
        )  # fmt: skip
        attempt = env.get("TORCHELASTIC_RESTART_COUNT", "0")
        _STORE = dist.PrefixStore(f"concord/attempt_{attempt}", store)
    return _STORE


def init_group(device: torch.device, timeout: float) -> None:
    """Join the process group: gloo on CPU, nccl on GPU, through :func:`rendezvous_store`."""
    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    wait = datetime.timedelta(seconds=max(timeout, 30.0))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store = rendezvous_store(timeout)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=wait)
