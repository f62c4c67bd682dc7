"""Building the pieces of a run from plain values: data, model, loss, initial parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import Dataset, Shards, load_dataset, make_shards, partition
from .data.hashing import agent_seed
from .errors import ConfigError
from .losses import Loss, resolve_loss
from .models import ParamLayout, build_model, check_stackable
from .objective import LocalObjective

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"`` / ``"float64"`` (or a torch dtype)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use float32 or float64")
    return DTYPES[dtype]


@dataclass
class Problem:
    """A dataset split among agents, a model and a loss."""

    data: Dataset
    module: nn.Module
    loss: Loss
    parts: list[np.ndarray]

    @property
    def n(self) -> int:
        """Number of agents."""
        return len(self.parts)


def make_problem(
    dataset: str | Dataset,
    model: str | nn.Module,
    *,
    agents: int,
    partition_scheme: str = "iid",
    loss: str | Loss | Callable[..., torch.Tensor] | None = None,
    seed: int = 0,
    standardize: bool = True,
    test_fraction: float | None = None,
) -> Problem:
    """Resolve dataset, model and loss names and split the data among ``agents``.

    ``standardize`` and ``test_fraction`` are those of :func:`~consensus.load_dataset`;
    they apply to a dataset given by name or path, not to a ready :class:`Dataset`.
    """
    if isinstance(dataset, str):
        data = load_dataset(dataset, seed, standardize=standardize, test_fraction=test_fraction)
    elif not standardize or test_fraction is not None:
        raise ConfigError(
            "standardize and test_fraction apply to a dataset name or .npz path; "
            "a ready Dataset is used as it is"
        )
    else:
        data = dataset
    resolved = resolve_loss(loss, data.task, data.name)
    torch.manual_seed(seed)
    module = build_model(model, data) if isinstance(model, str) else model
    check_stackable(module)
    if not isinstance(agents, int) or agents < 1:
        raise ConfigError(f"agents={agents!r} must be a positive integer")
    return Problem(data, module, resolved, partition(data.y_train, agents, partition_scheme, seed))


def initial_parameters(
    problem: Problem, agent_ids: np.ndarray, *, init: str, seed: int, dtype: torch.dtype
) -> torch.Tensor:
    """Rows of the hosted agents: ``same`` (one draw from ``seed``) or ``independent`` (seeded by (seed, agent id))."""
    layout = ParamLayout.of(problem.module)
    if init == "same":
        torch.manual_seed(seed)
        template = _reinit(problem.module)
        return layout.flatten(template).to(dtype).unsqueeze(0).repeat(len(agent_ids), 1)
    if init == "independent":
        rows = []
        for a in agent_ids.tolist():  # setup only, never in the round loop
            torch.manual_seed(agent_seed(seed, a))
            rows.append(layout.flatten(_reinit(problem.module)).to(dtype))
        return torch.stack(rows)
    raise ConfigError(f"unknown init {init!r}; use same or independent")


def _reinit(module: nn.Module) -> nn.Module:
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return module


def make_objective(
    problem: Problem, shards: Shards, *, batch_size: int, seed: int
) -> LocalObjective:
    """The stacked local objective of the hosted agents."""
    if batch_size < 0:
        raise ConfigError(f"batch_size={batch_size} must be >= 0 (0 = each agent's whole shard)")
    return LocalObjective(problem.module, problem.loss, shards, batch_size=batch_size, seed=seed)


def local_shards(
    problem: Problem, agent_ids: np.ndarray, *, dtype: torch.dtype, device: str | torch.device
) -> Shards:
    """Padded shards of the hosted agents."""
    return make_shards(problem.data, problem.parts, agent_ids, dtype=dtype, device=device)


def held_out_tensors(
    problem: Problem, *, dtype: torch.dtype, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The held-out set as tensors, or None without one (``test_fraction=0``: no test metrics)."""
    d = problem.data
    if not d.has_test:
        return None
    y = torch.as_tensor(d.y_test, device=device)
    return torch.as_tensor(d.X_test, dtype=dtype, device=device), (
        y if d.task == "classification" else y.to(dtype)
    )
