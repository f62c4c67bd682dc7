"""Where a run's agents and stages live: the rows and columns this process hosts, and its mixer.

Without ``--stages`` the processes split the agents into contiguous blocks
and gossip over the world. With ``--stages S`` the ``P`` processes form the
``(P / S) x S`` mesh: process ``(b, s)`` hosts the agents of block ``b`` and
the columns of stage ``s``, and gossips with the processes of stage ``s``.
One process (plain ``python``) hosts every agent and, with ``--stages``,
runs every stage in turn: the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from topologies import Schedule

from ..errors import ConfigError
from ..layerparallel import LayerParallel, layer_parallel
from ..mixers import InProcessMixer, Mixer
from .config import RunConfig


@dataclass
class Placement:
    """This process's agents (rows), its layer-parallel setup (columns) and its mixer."""

    agent_ids: np.ndarray
    mixer: Mixer
    layer_parallel: LayerParallel | None

    def gather_model(self, objective: Any, average: torch.Tensor) -> torch.Tensor:
        """The whole average model ``(d,)`` from this process's columns of it."""
        if self.layer_parallel is None or self.layer_parallel.mesh is None:
            return average
        from ..layerparallel.mesh import gather_columns

        return gather_columns(objective, average)

    def describe(self, world: int) -> dict[str, Any]:
        """For config.json: the processes and, for layer-parallel agents, the mesh and the stages."""
        lp = self.layer_parallel
        return {"processes": world} if lp is None else {"processes": world, "mesh": lp.describe()}


def check_layer_parallel(config: RunConfig, module: nn.Module, world: int) -> LayerParallel | None:
    """Every layer-parallel check that needs no communication; the setup, not yet placed on a mesh."""
    if config.stages < 1:
        raise ConfigError(f"--stages={config.stages} must be >= 1")
    plan = layer_parallel(module, config.stages, config.layer_parallel, config.split_points)
    if plan is None:
        return None
    S = plan.split.count
    if world > 1:
        if world % S:
            raise ConfigError(
                f"{world} processes cannot form a mesh of {S} stages; use --nproc-per-node a multiple of {S}"
            )
        if world // S > config.agents:
            raise ConfigError(
                f"{world // S} agent blocks of {S} stages but only {config.agents} agents; "
                f"use --agents >= {world // S} or fewer processes"
            )
    return plan


def place(
    config: RunConfig,
    schedule: Schedule,
    plan: LayerParallel | None,
    *,
    world: int,
    rank: int,
    device: torch.device,
    dtype: torch.dtype,
) -> Placement:
    """This process's rows, columns and mixer (process groups exist when ``world > 1``)."""
    mixer: Mixer
    if world == 1:
        mixer = InProcessMixer(schedule, dtype=dtype, device=device)
        return Placement(np.arange(config.agents), mixer, plan)
    from ..mixers.distributed import DistributedMixer, contiguous_blocks

    if plan is None:
        blocks = contiguous_blocks(config.agents, world)
        mixer = DistributedMixer(
            schedule, blocks, device=device, dtype=dtype, timeout=config.timeout
        )
        return Placement(blocks[rank], mixer, None)
    from ..layerparallel.mesh import build_mesh

    mesh = build_mesh(world, rank, plan.split.count, device)
    blocks = contiguous_blocks(config.agents, mesh.blocks)
    mixer = DistributedMixer(
        schedule, blocks, group=mesh.agent_group, device=device, dtype=dtype, timeout=config.timeout
    )
    return Placement(blocks[mesh.block], mixer, replace(plan, mesh=mesh, timeout=config.timeout))
