"""How the agents of a run are split into stages: the split, the method, and where the stages run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..data.shards import Shards
from ..errors import ConfigError
from ..losses import Loss
from ..objective import LocalObjective
from .dsp_mesh import DSPStageObjective
from .dsp_objective import DSPObjective
from .mesh import Mesh, StageObjective
from .methods import Method, resolve_method
from .mgrit_mesh import MGRITStageObjective
from .mgrit_objective import MGRITObjective
from .objective import PipelineObjective
from .sph_mesh import SPHStageObjective
from .sph_objective import SPHObjective
from .split import StageSplit, split_model

#: Method name -> (its objective in one process, its objective in one stage process of a mesh).
OBJECTIVES: dict[str, tuple[Callable[..., LocalObjective], Callable[..., LocalObjective]]] = {
    "pipeline": (PipelineObjective, StageObjective),
    "sph": (SPHObjective, SPHStageObjective),
    "mgrit": (MGRITObjective, MGRITStageObjective),
    "dsp": (DSPObjective, DSPStageObjective),
}


@dataclass(frozen=True)
class LayerParallel:
    """Layer-parallel agents: ``split`` into stages, cooperating by ``method``.

    ``mesh`` None runs every stage in this process (the simulator); otherwise
    this process is one stage of an agent block of the mesh and holds only
    that stage's columns.
    """

    split: StageSplit
    method: Method
    mesh: Mesh | None = None
    timeout: float = 300.0

    @property
    def columns(self) -> slice:
        """The columns of the flat layout held in this process."""
        return slice(None) if self.mesh is None else self.split.stages[self.mesh.stage].cols

    def objective(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        batch_size: int,
        seed: int,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> LocalObjective:
        """The local objective of the agents (all stages here, or this process's stage)."""
        common: dict[str, Any] = {
            "split": self.split,
            "method": self.method,
            "batch_size": batch_size,
            "seed": seed,
        }
        in_turn, on_mesh = OBJECTIVES[self.method.name]
        if self.mesh is None:
            return in_turn(module, loss, shards, **common)
        return on_mesh(
            module, loss, shards, mesh=self.mesh, dtype=dtype, device=torch.device(device),
            timeout=self.timeout, **common,
        )  # fmt: skip

    def release(self, module: nn.Module) -> None:
        """On a mesh, move the template model to the meta device: this process keeps its stage only.

        The template (built whole, to draw the same initial parameters as every
        other layout) is not needed after setup: the stages' layers take their
        parameters as arguments. Whoever needs it whole again (rank 0, for
        final_model.pt) calls ``module.to_empty(device="cpu")`` and loads a vector.
        """
        if self.mesh is not None:
            module.to("meta")

    def check_batch(self, batch_size: int, shard_sizes: Sequence[int]) -> None:
        """Refuse more micro-batches than samples per agent per round."""
        rows = batch_size or max(shard_sizes)
        if self.method.microbatches > rows:
            raise ConfigError(
                f"{self.method.microbatches} micro-batches but only {rows} samples per agent per round; "
                f"use microbatches <= {rows} or a larger --batch-size"
            )

    def describe(self) -> dict[str, Any]:
        """For config.json: agent blocks, stages, the method, the split and (on a mesh) its dims."""
        out: dict[str, Any] = {
            "agent_blocks": 1 if self.mesh is None else self.mesh.blocks,
            "stages": self.split.count,
            "processes_per_stage": 0 if self.mesh is None else 1,  # 0: the stages run in turn
            "method": self.method.spec(),
            "split": self.split.describe(),
        }
        if self.mesh is not None:
            out.update(self.mesh.describe())
        return out


def layer_parallel(
    module: nn.Module,
    stages: int,
    method: str | Method = "pipeline",
    split_points: Sequence[int] | str | None = None,
) -> LayerParallel | None:
    """The layer-parallel setup of ``stages`` stages, or None for whole-model agents (``stages == 1``).

    ``split_points`` may be a string ``"2,5"`` (the command line's spelling).
    """
    if isinstance(split_points, str):
        try:
            split_points = [int(p) for p in split_points.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(
                f"--split-points {split_points!r} must be comma-separated layer indices, e.g. 2,5"
            ) from None
    resolved = resolve_method(method)
    if split_points and stages == 1:
        stages = len(split_points) + 1  # the points say how many stages
    if stages == 1:
        return None
    return LayerParallel(split_model(module, stages, split_points), resolved)
