"""Diversely stale parameters (DSP): a pipeline without forward, backward or update locking.

After Xu, Huo and Huang, "Diversely Stale Parameters for Efficient Training of
CNNs" (CVPR 2020, arXiv 1909.02625), close to Decoupled Parallel
Backpropagation (Huo et al., ICML 2018). A Concord **round is one DSP time
step**: every round the agent draws its batch, which enters the pipeline at
stage 0, and every stage runs (at most) one forward and one backward:

- in round ``r`` stage ``s`` forwards the batch drawn in round ``r - f_s`` and
  backwards the batch drawn in round ``r - b_s`` (the *lags* ``f_s <= b_s``);
- its **staleness** is ``k_s = b_s - f_s``, the forward batch's index minus the
  backward batch's;
- a message (an activation forward, a gradient back) is sent in one round and
  used in the next (*pipelined*), unless the two stages' lags are equal
  (*chained*: the receiver waits for it within the round, as in the exact
  pipeline).

The stage's gradient for the round is that of the batch it backwards, at the
parameters of that batch's forward (``recompute=false``, the default: the
forward's graph kept, so every stage's gradient is the loss's gradient at one
point of the recent past) or at its current parameters (``recompute=true``:
the stage's forward re-run on the stored input, differentiated against an
output gradient computed for the old output; measured less stable, see the
guide). The consensus algorithm applies every stage's gradient at once, so
every algorithm runs unchanged.

A staleness pattern names ``k_0, ..., k_{S-1}``; it is possible exactly when it
does not increase from stage to stage and ``k_{S-1} >= 0``, and its lags are
(``d = k_s - k_{s+1}``): ``f_0 = 0``, ``b_{S-1} = f_{S-1} + k_{S-1}``, and at the
boundary ``s | s+1``

- ``d = 0``: chained both ways (``f_{s+1} = f_s``, ``b_s = b_{s+1}``);
- ``d = 1``: forward chained, gradient pipelined (``b_s = b_{s+1} + 1``);
- ``d >= 2``: both pipelined, the gradient queued ``d - 2`` more rounds
  (``f_{s+1} = f_s + 1``, ``b_s = b_{s+1} + d - 1``).

``auto`` is ``k_s = 2 (S - 1 - s)`` (``4-2-0`` for three stages): every boundary
pipelined, the smallest staleness with no stage waiting for another within a
round. All zeros is the exact pipeline (every boundary chained).

Examples
--------
>>> m = DSPMethod()
>>> m.pattern(3), m.lags(3)
((4, 2, 0), Lags(forward=(0, 1, 2), backward=(4, 3, 2)))
>>> DSPMethod(staleness="0").lags(3)
Lags(forward=(0, 0, 0), backward=(0, 0, 0))
>>> DSPMethod(staleness="(5,1,0)").spec()
'dsp:staleness=5-1-0,recompute=false'
>>> DSPMethod(staleness="5-1-0").lags(3)
Lags(forward=(0, 1, 1), backward=(5, 2, 1))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from ..losses import Loss
from ..objective import Batch
from .split import Stage, StageSplit

_EXAMPLE = (
    "staleness=auto, staleness=4-2-0 (one number per stage) or staleness=0 (the exact pipeline)"
)


def _parse(text: str) -> tuple[int, ...] | None:
    """``"auto"`` -> None, ``"4-2-0"`` / ``"4,2,0"`` -> (4, 2, 0), refusing anything else."""
    text = text.strip().strip("()").strip()
    if text == "auto":
        return None
    parts = [p.strip() for p in re.split(r"[,\s]+|(?<=\d)-", text)]
    if not text or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise ConfigError(f"dsp: staleness={text!r} is not auto or whole numbers; write {_EXAMPLE}")
    ks = tuple(int(p) for p in parts)
    if min(ks) < 0:
        raise ConfigError(
            f"dsp: staleness={text} has a negative entry; a stage cannot backward a batch before "
            f"its forward: use {_EXAMPLE}"
        )
    for s in range(len(ks) - 1):
        if ks[s] < ks[s + 1]:
            raise ConfigError(
                f"dsp: staleness={text} grows from stage {s} to {s + 1}: a stage cannot backward "
                f"a batch before the stages after it; give a non-increasing pattern ({_EXAMPLE})"
            )
    return ks


@dataclass(frozen=True)
class Lags:
    """In round ``r`` stage ``s`` forwards the batch of round ``r - forward[s]``, backwards ``r - backward[s]``."""

    forward: tuple[int, ...]
    backward: tuple[int, ...]

    @property
    def staleness(self) -> tuple[int, ...]:
        """Forward minus backward batch index, per stage."""
        return tuple(b - f for f, b in zip(self.forward, self.backward, strict=True))

    def chained_forward(self, s: int) -> bool:
        """Whether stage ``s``'s input comes from stage ``s - 1`` within the same round."""
        return s > 0 and self.forward[s] == self.forward[s - 1]

    def chained_backward(self, s: int) -> bool:
        """Whether stage ``s``'s output gradient comes from stage ``s + 1`` within the same round."""
        return s + 1 < len(self.backward) and self.backward[s] == self.backward[s + 1]

    @property
    def warmup(self) -> int:
        """Rounds until every stage has a forward and a backward to do (the pipeline is full)."""
        return max(self.backward)

    def idle_in_warmup(self) -> int:
        """Rounds summed over the stages with no forward or no backward: ``sum_s b_s``."""
        return sum(self.backward)


@dataclass(frozen=True)
class DSPMethod:
    """Options of diversely stale parameters (see the module docstring).

    ``staleness`` is ``auto``, one number per stage (``4-2-0``, or ``(4,2,0)``
    in parentheses) or one number for every stage (``0``: the exact pipeline).
    ``recompute=true`` computes a stage's gradient at its current parameters
    (re-running its forward on the stored input) instead of the parameters of
    the batch's forward (``false``, the default: the forward's graph kept).
    """

    name: ClassVar[str] = "dsp"
    #: The exact passes (the metrics' gradients) run the pipeline with one micro-batch.
    schedule: ClassVar[str] = "1f1b"
    microbatches: ClassVar[int] = 1
    staleness: str = "auto"
    recompute: bool = False

    def __post_init__(self) -> None:
        given = _parse(str(self.staleness))
        # the canonical spelling, so that spec() round-trips
        object.__setattr__(
            self, "staleness", "auto" if given is None else "-".join(map(str, given))
        )

    def spec(self) -> str:
        """The spec string that rebuilds this method."""
        return f"{self.name}:staleness={self.staleness},recompute={str(self.recompute).lower()}"

    def pattern(self, stages: int) -> tuple[int, ...]:
        """The staleness of each of ``stages`` stages (refused, in one line, if it has another length)."""
        given = _parse(self.staleness)
        if given is None:
            return tuple(2 * (stages - 1 - s) for s in range(stages))
        if len(given) == 1:
            return given * stages
        if len(given) != stages:
            auto = "-".join(str(2 * (stages - 1 - s)) for s in range(stages))
            raise ConfigError(
                f"dsp: staleness={self.staleness} has {len(given)} entries but the agents have "
                f"{stages} stages; give {stages} numbers, e.g. staleness={auto} (auto)"
            )
        return given

    def lags(self, stages: int) -> Lags:
        """When each stage forwards and backwards a batch (the module docstring's rule)."""
        k = self.pattern(stages)
        f = [0] * stages
        for s in range(stages - 1):
            f[s + 1] = f[s] + (1 if k[s] - k[s + 1] >= 2 else 0)
        b = [0] * stages
        b[-1] = f[-1] + k[-1]
        for s in reversed(range(stages - 1)):
            d = k[s] - k[s + 1]
            b[s] = b[s + 1] + (d - 1 if d >= 2 else d)
        return Lags(tuple(f), tuple(b))

    def check(self, split: StageSplit, input_shape: tuple[int, ...]) -> None:
        """The pattern has one entry per stage (or one for all)."""
        self.pattern(split.count)


@dataclass
class Counts:
    """One stage's steps: rounds with a forward, with a backward, and idle rounds.

    A round is idle for a stage when it had no forward or no backward to do
    (the warm-up), or when it waited within the round for a message another
    stage computed in that round (a chained boundary).
    """

    forwards: int = 0
    backwards: int = 0
    idle: int = 0

    def add(self, forwarded: bool, backwarded: bool, waited: bool) -> None:
        """Count one round."""
        self.forwards += forwarded
        self.backwards += backwarded
        self.idle += waited or not (forwarded and backwarded)


#: A stage's autograd leaves (its parameters), its input (a leaf beyond stage 0) and its output.
Graph = tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]


class DSPWorker:
    """One stage's part of DSP for all hosted agents: its queues, forward, backward and counts.

    The simulator runs every stage's worker in this process, a mesh process
    runs its own; both call the same methods on the same values. A round is
    :meth:`begin`, :meth:`forward` (returns the activation to send on),
    :meth:`backward` (returns the gradient to send back) and :meth:`end`;
    messages arrive by :meth:`give_activation` and :meth:`give_gradient`.

    Queues, by batch index (the round that drew the batch): ``acts`` inputs
    received and not yet forwarded, ``grads`` output gradients received and
    not yet backwarded, ``inputs`` inputs forwarded and not yet backwarded,
    ``stash`` (``recompute=false``) the parameters of their forward and
    ``targets`` (last stage) the batches' targets and weights. Forward graphs
    kept across rounds (``recompute=false``) are not state: a restored worker
    rebuilds them from ``inputs`` and ``stash``, which gives the same values.
    """

    def __init__(self, stage: Stage, loss: Loss | None, lags: Lags, *, recompute: bool):
        s = stage.index
        self.stage, self.loss, self.recompute = stage, loss, recompute
        self.first, self.last = s == 0, s == len(lags.forward) - 1
        self.f, self.b = lags.forward[s], lags.backward[s]
        self.chained_in, self.chained_out = lags.chained_forward(s), lags.chained_backward(s)
        self.acts: dict[int, torch.Tensor] = {}
        self.grads: dict[int, torch.Tensor] = {}
        self.inputs: dict[int, torch.Tensor] = {}
        self.stash: dict[int, torch.Tensor] = {}
        self.targets: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.graphs: dict[int, Graph] = {}
        self.counts = Counts()

    def begin(self, r: int, batch: Batch) -> None:
        """Round ``r`` draws ``batch``: its input enters stage 0, its targets wait on the last stage."""
        if self.first:
            self.acts[r] = batch.x
        if self.last:
            self.targets[r] = (batch.y, batch.w)

    def give_activation(self, k: int, h: torch.Tensor) -> None:
        """Batch ``k``'s input, from the previous stage."""
        self.acts[k] = h

    def give_gradient(self, k: int, g: torch.Tensor) -> None:
        """The gradient in batch ``k``'s output, from the next stage."""
        self.grads[k] = g

    def _graph(self, P: torch.Tensor, h: torch.Tensor) -> Graph:
        params = {k: v.detach().requires_grad_(True) for k, v in self.stage.layout.views(P).items()}
        h_in = h if self.first else h.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.stage.forward(params, h_in)
        return list(params.values()), h_in, out

    def forward(self, P: torch.Tensor, r: int) -> tuple[int, torch.Tensor] | None:
        """Round ``r``'s forward at parameters ``P`` ``(n, d_s)``: ``(batch, output)``, or None if no input came."""
        k = r - self.f
        h = self.acts.pop(k, None)
        if h is None:
            return None
        self.inputs[k] = h
        if self.f == self.b:  # backwarded this round, at these parameters
            graph = self._graph(P, h)
        elif not self.recompute:  # backwarded later, at these parameters: keep them
            self.stash[k] = P.detach().clone()
            graph = self._graph(self.stash[k], h)
        else:  # backwarded later, recomputed then: no graph
            with torch.no_grad():
                return k, self.stage.forward(self.stage.layout.views(P), h)
        self.graphs[k] = graph
        return k, graph[2].detach()

    def backward(
        self, P: torch.Tensor, G: torch.Tensor, r: int
    ) -> tuple[int, torch.Tensor | None, torch.Tensor | None] | None:
        """Round ``r``'s backward: fills ``G`` (zeros if there is none) and returns ``(batch, input gradient, losses)``.

        The input gradient is None on stage 0, the losses (of the batch, on
        its targets) are None but on the last stage. Returns None when no
        gradient came (the warm-up).
        """
        k = r - self.b
        g = self.grads.pop(k, None)
        if (g is None and not self.last) or k not in self.inputs:
            G.zero_()
            return None
        h = self.inputs.pop(k)
        graph = self.graphs.pop(k, None)
        if graph is None:  # recompute at the current parameters, or rebuild a restored stale graph
            graph = self._graph(P if self.recompute else self.stash[k], h)
        self.stash.pop(k, None)
        leaves, h_in, out = graph
        losses = None
        if self.last:
            assert self.loss is not None
            y, w = self.targets.pop(k)
            losses, g = self.loss.value_and_grad(out, y, w)
        inputs = leaves if self.first else [*leaves, h_in]
        grads = torch.autograd.grad(out, inputs, g, allow_unused=True, materialize_grads=True)
        for view, gp in zip(self.stage.layout.views(G).values(), grads, strict=False):
            view.copy_(gp)
        return k, (None if self.first else grads[-1]), losses

    def end(self, forwarded: bool, backwarded: bool) -> None:
        """Count the round (a chained message waited for makes it idle)."""
        waited = (self.chained_in and forwarded) or (self.chained_out and backwarded)
        self.counts.add(forwarded, backwarded, waited)

    def state_dict(self) -> dict[str, Any]:
        """The queues and counts, for a checkpoint (shares the live tensors, as a module's does)."""
        return {
            "acts": dict(self.acts),
            "grads": dict(self.grads),
            "inputs": dict(self.inputs),
            "stash": dict(self.stash),
            "targets": {k: list(v) for k, v in self.targets.items()},
            "counts": [self.counts.forwards, self.counts.backwards, self.counts.idle],
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` (copies; graphs are rebuilt at their backward)."""

        def copy(queue: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
            return {int(k): v.to(device, copy=True) for k, v in queue.items()}

        self.acts, self.grads = copy(state["acts"]), copy(state["grads"])
        self.inputs, self.stash = copy(state["inputs"]), copy(state["stash"])
        self.targets = {
            int(k): (y.to(device, copy=True), w.to(device, copy=True))
            for k, (y, w) in state["targets"].items()
        }
        self.graphs = {}
        self.counts = Counts(*(int(c) for c in state["counts"]))


def dsp_workers(split: StageSplit, loss: Loss, method: DSPMethod) -> list[DSPWorker]:
    """One :class:`DSPWorker` per stage (the loss on the last)."""
    lags, S = method.lags(split.count), split.count
    return [
        DSPWorker(stage, loss if s == S - 1 else None, lags, recompute=method.recompute)
        for s, stage in enumerate(split.stages)
    ]


def counters(workers: Sequence[DSPWorker]) -> dict[str, float]:
    """The metrics' counts of these stages: forwards, backwards and idle rounds, summed."""
    return {
        "stage_forwards": float(sum(w.counts.forwards for w in workers)),
        "stage_backwards": float(sum(w.counts.backwards for w in workers)),
        "stage_idle_steps": float(sum(w.counts.idle for w in workers)),
    }
