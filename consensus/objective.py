"""The local objective of every hosted agent: losses, gradients and linearizations, stacked.

Agent i's loss is ``f_i(x) = (1/N) * sum of its samples' losses``, so that
``sum_i f_i`` is the pooled objective. Gradients returned here are of
``n * f_i`` (``n`` agents in all): each is an estimate of the global gradient
on F's scale, so step sizes mean what they mean for centralized training.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from .data.shards import Shards
from .linearization import Linearization, block_index
from .losses import Loss
from .models.layout import ParamLayout
from .models.stacked import StackedForward, stacked_forward, stacked_gradient


@dataclass
class Batch:
    """Inputs ``(n, B, ...)``, targets ``(n, B)`` and per-sample weights ``(n, B)``.

    ``rows`` ``(n, B)``, when known, are the samples' positions in each agent's
    shard (per-sample state of layer-parallel methods is indexed by them).
    """

    x: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    rows: torch.Tensor | None = None


class LocalObjective:
    """Stacked losses and gradients of the agents hosted here.

    ``layer_parallel`` is True for the objectives of agents split into stages
    (their ``stage_bytes`` counts the traffic between stages).

    Parameters
    ----------
    module : nn.Module
        The model (its parameters give the layout; its values are ignored).
    loss : Loss
        Per-sample loss with the gradient of its weighted sum in the outputs.
    shards : Shards
        The hosted agents' data.
    batch_size : int
        Samples per agent per round; 0 uses the whole shard (deterministic).
    seed : int
        Seed of the batch draws (with agent id and round).
    """

    layer_parallel: bool = False

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        batch_size: int = 0,
        seed: int = 0,
    ):
        self.module = module
        self.layout = ParamLayout.of(module)
        self.forward_fn = stacked_forward(module)
        self.gradient_fn = stacked_gradient(module)
        self.loss = loss
        self.shards = shards
        self.batch_size = batch_size
        self.seed = seed
        #: ``(x, t) -> x`` applied to the inputs of the rounds that augment (see :meth:`augments`).
        self.augment: Callable[..., torch.Tensor] | None = None
        #: Bytes this process sent to (or, in one process, handed between) its agents' stages.
        self.stage_bytes = 0.0

    @functools.cached_property
    def eval_forward_fn(self) -> StackedForward:
        """The model in eval mode (dropout off), on a copy built at first use.

        The shared module is never toggled: blocks running in threads train with
        it at the same time.
        """
        return stacked_forward(copy.deepcopy(self.module).train(False))

    @property
    def curvature(self) -> float:
        """Bound on the loss's second derivative in the output (step sizes of inner solvers)."""
        return self.loss.curvature

    @property
    def n_total(self) -> int:
        """Number of agents over all processes."""
        return self.shards.n_total

    def batch(self, t: int) -> Batch:
        """Round ``t``'s batch (the whole shard when ``batch_size == 0``), augmented if configured."""
        if self.batch_size <= 0:
            batch = Batch(*self.shards.full_batch(), rows=self.shards.full_rows())
        else:
            batch = Batch(
                *self.shards.batch(self.seed, t, self.batch_size),
                rows=self.shards.batch_rows(self.seed, t, self.batch_size),
            )
        if self.augment is not None and self.augments(t):
            batch.x = self.augment(batch.x, t)
        return batch

    def augments(self, t: int) -> bool:
        """Whether round ``t`` trains on augmented inputs (every round; hybrids: the serial ones)."""
        return True

    def solver_metrics(self) -> dict[str, torch.Tensor]:
        """Per-agent ``(n,)`` diagnostics of the last round's local solver (the metrics add their mean)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the oracle (its counters; hybrids add their per-sample states)."""
        return {"stage_bytes": self.stage_bytes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a checkpoint without it leaves the counters at 0)."""
        self.stage_bytes = float(state.get("stage_bytes", 0.0))

    def forward(self, X: torch.Tensor, x: torch.Tensor, *, training: bool = True) -> torch.Tensor:
        """Outputs of every agent's model on its inputs: ``(n, B, C)``.

        ``training=False`` runs the model in eval mode (no dropout), as the metrics do.
        """
        return self._forward(training)(self.layout.views(X), x)

    def _forward(self, training: bool) -> StackedForward:
        return self.forward_fn if training else self.eval_forward_fn

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients of ``n * f_i`` at every row of ``X`` (one backward), and the losses.

        ``G`` is a new tensor that nothing else refers to. A model's
        hand-written backward writes into it directly; otherwise the
        per-parameter views are autograd's leaves and their gradients are
        copied in once (differentiating through the views of ``X`` would build
        a zero-filled ``(n, d)`` tensor per parameter and add them all up).
        ``training=False`` differentiates the model in eval mode (the metrics).
        """
        if self.gradient_fn is not None:
            G = X.new_empty(X.shape)
            output_grad = partial(self.loss.value_and_grad, y=batch.y, w=batch.w)
            with torch.no_grad():
                losses = self.gradient_fn(
                    self.layout.views(X.detach()), batch.x, output_grad, self.layout.views(G)
                )
            return G, losses
        views = {
            k: v.detach().requires_grad_(True) for k, v in self.layout.views(X.detach()).items()
        }
        leaves = list(views.values())
        with torch.enable_grad():
            losses = (self.loss(self._forward(training)(views, batch.x), batch.y) * batch.w).sum(-1)
            grads = torch.autograd.grad(
                losses.sum(), leaves, allow_unused=True, materialize_grads=True
            )
        G = X.new_empty(X.shape)
        for view, g in zip(self.layout.views(G).values(), grads, strict=True):
            view.copy_(g)
        return G, losses.detach()

    def linearization(
        self, X: torch.Tensor, batch: Batch, *, blocks: bool = False, workers: int = 1
    ) -> Linearization:
        """The outputs at ``X`` and products with the output Jacobian, whole or per layer.

        One forward graph serves every product: ``J^T U`` is a backward pass and
        ``J V`` the backward of ``U -> J^T U`` (double backward), so inner
        solvers never re-run the forward. ``blocks=True`` gives one block per
        layer (:meth:`ParamLayout.blocks`), whose products ``workers`` threads
        compute; otherwise one block of every column.
        """
        with torch.enable_grad():
            Xg = X.detach().requires_grad_(True)
            out = self.forward(Xg, batch.x)
            u = torch.zeros_like(out, requires_grad=True)
            (JTu,) = torch.autograd.grad(out, Xg, u, create_graph=True)
        d = X.shape[1]
        slices = self.layout.blocks() if blocks else [slice(0, d)]

        def push_one(V: torch.Tensor, s: slice) -> torch.Tensor:
            Vb = V if len(slices) == 1 else torch.zeros_like(V)
            if len(slices) > 1:
                Vb[:, s] = V[:, s]
            return torch.autograd.grad(JTu, u, Vb, retain_graph=True)[0]

        def pull_one(U: torch.Tensor, s: slice) -> torch.Tensor:
            return torch.autograd.grad(out, Xg, U, retain_graph=True)[0][:, s]

        def push(V: torch.Tensor) -> torch.Tensor:
            return torch.stack(over_blocks(lambda k, s: push_one(V, s)))

        def pull(U: torch.Tensor) -> torch.Tensor:
            parts = over_blocks(lambda k, s: pull_one(U[k], s))  # the blocks tile the columns
            return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

        def over_blocks(f: Callable[[int, slice], torch.Tensor]) -> list[torch.Tensor]:
            if workers <= 1 or len(slices) == 1:
                return [f(k, s) for k, s in enumerate(slices)]  # over layers, not agents
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(f, range(len(slices)), slices))

        return Linearization(
            out.detach(), push, pull, blocks=len(slices), first=0, local_blocks=len(slices),
            block_of=block_index(slices, d, X.device), columns=torch.arange(d, device=X.device),
            reduce=lambda v: v,
        )  # fmt: skip

    def row_sum(self, v: torch.Tensor) -> torch.Tensor:
        """A per-agent quantity of the columns held here, summed over all of an agent's columns.

        Every column is here, so it is ``v`` itself; a stage process of a
        layer-parallel agent holds a part of the columns and adds the parts.
        """
        return v

    def output_loss_grad(
        self, out: torch.Tensor, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted loss per agent at outputs ``out`` and its gradient in ``out``."""
        return self.loss.value_and_grad(out, batch.y, batch.w)
