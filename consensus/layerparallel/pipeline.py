"""The exact pipeline: micro-batches through the stages, activations forward, gradients back.

:class:`StageWorker` is one stage's arithmetic (autograd per micro-batch, the
gradient accumulated in the order of the schedule's backward actions).
:func:`run_in_turn` runs every stage of an agent block in one process, each
stage as far as its inputs allow, then the next: the simulator.
:func:`run_stage` runs one stage against a :class:`Link` to its neighbour
stages: a process of the mesh. Both run the same actions on the same values,
so they give the same gradients, bit for bit up to the kernels' own
determinism.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from ..losses import Loss
from .schedules import Action
from .split import Stage


class StageWorker:
    """Forward and backward of one stage for all hosted agents, micro-batch by micro-batch.

    Parameters
    ----------
    stage : Stage
        Its layers and columns.
    loss : Loss or None
        The loss, on the last stage only: its forward ends with the loss and
        the gradient in the outputs.
    """

    def __init__(self, stage: Stage, loss: Loss | None):
        self.stage, self.loss = stage, loss
        self.first = stage.index == 0

    def start(
        self,
        P: torch.Tensor,
        G: torch.Tensor | None,
        targets: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    ) -> None:
        """Begin a pass at parameters ``P`` ``(n, d_s)``; ``G`` (same shape) receives the gradient.

        ``targets`` are the micro-batches' ``(y, w)``, used by the last stage.
        """
        self.grad = G is not None
        self.params = {
            k: v.detach().requires_grad_(self.grad) for k, v in self.stage.layout.views(P).items()
        }
        self.G = None if G is None else self.stage.layout.views(G)
        self.targets = targets
        self.saved: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        self.losses: torch.Tensor | None = None
        self.backwards = 0

    def forward(self, m: int, h: torch.Tensor) -> torch.Tensor:
        """Micro-batch ``m`` through the stage; returns the activation to send (detached)."""
        if not self.grad:
            with torch.no_grad():
                return self.stage.forward(self.params, h)
        h_in = h if self.first else h.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.stage.forward(self.params, h_in)
        g_out = None
        if self.loss is not None:
            y, w = self.targets[m]
            losses, g_out = self.loss.value_and_grad(out, y, w)
            self.losses = losses if self.losses is None else self.losses + losses
        self.saved[m] = (h_in, out, g_out)
        return out.detach()

    def backward(self, m: int, grad_out: torch.Tensor | None = None) -> torch.Tensor | None:
        """Micro-batch ``m`` backward; returns the gradient in the stage's input (None on stage 0)."""
        h_in, out, g_own = self.saved.pop(m)
        g = g_own if g_own is not None else grad_out
        leaves = list(self.params.values())
        inputs = leaves if self.first else [*leaves, h_in]
        grads = torch.autograd.grad(out, inputs, g, allow_unused=True, materialize_grads=True)
        assert self.G is not None
        for view, gp in zip(self.G.values(), grads, strict=False):
            view.copy_(gp) if self.backwards == 0 else view.add_(gp)
        self.backwards += 1
        return None if self.first else grads[-1]


def run_in_turn(
    workers: Sequence[StageWorker],
    schedule: Sequence[Sequence[Action]],
    inputs: Sequence[torch.Tensor],
    on_handoff: Callable[[torch.Tensor], None] | None = None,
) -> None:
    """All stages in this process: each runs its actions until one waits for a message, then the next.

    ``inputs`` are the micro-batches' inputs of stage 0. ``on_handoff`` sees
    every tensor handed from one stage to another (what a mesh would send).
    Raises RuntimeError if the schedule can make no progress (a malformed
    schedule), never loops.
    """
    handoff = on_handoff or (lambda _: None)
    S = len(workers)
    pending = [list(a) for a in schedule]
    pos = [0] * S
    acts: dict[tuple[int, int], torch.Tensor] = {}  # (stage, m) -> input activation of that stage
    grads: dict[tuple[int, int], torch.Tensor] = {}  # (stage, m) -> gradient in that stage's output
    while any(pos[s] < len(pending[s]) for s in range(S)):
        progressed = False
        for s, worker in enumerate(workers):
            while pos[s] < len(pending[s]):
                kind, m = pending[s][pos[s]]
                if kind == "F":
                    h = inputs[m] if s == 0 else acts.pop((s, m), None)
                    if h is None:
                        break
                    out = worker.forward(m, h)
                    if s + 1 < S:
                        acts[(s + 1, m)] = out
                        handoff(out)
                else:
                    g = None if s == S - 1 else grads.pop((s, m), None)
                    if g is None and s < S - 1:
                        break
                    g_in = worker.backward(m, g)
                    if s > 0:
                        assert g_in is not None
                        grads[(s - 1, m)] = g_in
                        handoff(g_in)
                pos[s] += 1
                progressed = True
        if not progressed:
            raise RuntimeError(
                "the pipeline schedule cannot progress; its actions are inconsistent"
            )


def forward_in_turn(workers: Sequence[StageWorker], x: torch.Tensor) -> torch.Tensor:
    """A forward-only pass of the whole input through every stage (no micro-batches)."""
    h = x
    for worker in workers:
        h = worker.forward(0, h)
    return h


class Link(Protocol):
    """One stage's messages to its neighbour stages of the same agent block."""

    def recv_activation(self, m: int) -> torch.Tensor:
        """Micro-batch ``m``'s input activation, from the previous stage."""

    def send_activation(self, m: int, h: torch.Tensor) -> None:
        """Micro-batch ``m``'s output activation, to the next stage."""

    def recv_grad(self, m: int) -> torch.Tensor:
        """The gradient in micro-batch ``m``'s output, from the next stage."""

    def send_grad(self, m: int, g: torch.Tensor) -> None:
        """The gradient in micro-batch ``m``'s input, to the previous stage."""

    def flush(self) -> None:
        """Wait until every message sent has been delivered."""


def run_stage(
    worker: StageWorker,
    actions: Sequence[Action],
    inputs: Sequence[torch.Tensor] | None,
    link: Link,
    *,
    last: bool,
) -> None:
    """One stage of a mesh: its actions in order, receiving and sending through ``link``.

    Receives block (with the link's timeout), sends do not, so a schedule whose
    actions are consistent cannot deadlock.
    """
    for kind, m in actions:
        if kind == "F":
            h = inputs[m] if inputs is not None else link.recv_activation(m)
            out = worker.forward(m, h)
            if not last:
                link.send_activation(m, out)
        else:
            g_in = worker.backward(m, None if last else link.recv_grad(m))
            if g_in is not None:
                link.send_grad(m, g_in)
    link.flush()
