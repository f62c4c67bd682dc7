"""The process mesh ``agents x stages`` and one stage process's local objective.

Under torchrun with ``--stages S`` the ``P`` processes form a 2-D mesh
(torch.distributed's DeviceMesh, dims ``"agent"`` and ``"stage"``): process
``(b, s)`` (global rank ``b * S + s``) hosts the agents of block ``b`` and only
the columns of stage ``s``. Gossip runs along the agent dimension (the
processes of one stage); the pipeline, and every sum over an agent's
parameters, along the stage dimension (the processes of one agent block).
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..data.shards import Shards
from ..linearization import Linearization, block_index
from ..losses import Loss
from ..mixers.distributed import timed_wait
from ..objective import Batch, LocalObjective
from .objective import microbatches
from .pipeline import StageWorker, run_stage
from .schedules import SCHEDULES, Scheduled
from .split import StageSplit, split_model

# Message kinds (the tag is 8 * micro-batch + kind): pipeline, eval forward, linearization.
_ACT, _GRAD, _EVAL, _LIN, _PUSH, _PULL = 0, 1, 2, 3, 4, 5


@dataclass
class Mesh:
    """This process's place in the mesh and the process groups of its row and column."""

    blocks: int
    stages: int
    block: int
    stage: int
    agent_group: Any  # the processes of this stage, one per agent block: gossip
    stage_group: Any  # the processes of this agent block, one per stage: the pipeline

    def rank_of(self, stage: int) -> int:
        """Global rank of ``stage`` in this process's agent block."""
        return self.block * self.stages + stage

    def describe(self) -> dict[str, Any]:
        """For config.json."""
        return {
            "dims": ["agent", "stage"],
            "rank_of": "block * stages + stage",
        }


def build_mesh(world: int, rank: int, stages: int, device: torch.device) -> Mesh:
    """The ``(world / stages) x stages`` mesh of an initialised process group (a DeviceMesh)."""
    from torch.distributed.device_mesh import init_device_mesh

    blocks = world // stages
    mesh = init_device_mesh(device.type, (blocks, stages), mesh_dim_names=("agent", "stage"))
    return Mesh(
        blocks,
        stages,
        rank // stages,
        rank % stages,
        mesh.get_group("agent"),
        mesh.get_group("stage"),
    )


def boundary_shapes(split: StageSplit, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Per-sample shape of each stage's input and of the last output (inferred on the meta device)."""
    shapes = [tuple(input_shape)]
    h = torch.empty(1, 1, *input_shape, device="meta")
    for stage in split.stages:
        params = {
            name: torch.empty(1, *shape, device="meta")
            for name, shape in zip(stage.layout.names, stage.layout.shapes, strict=True)
        }
        with torch.no_grad():
            h = stage.forward(params, h)
        shapes.append(tuple(h.shape[2:]))
    return shapes


class _P2PLink:
    """Messages of one pipeline pass between this stage and its neighbours (isend/irecv, timed waits)."""

    def __init__(self, owner: StageObjective, rows: int, sizes: list[int], kind: int):
        self.o, self.rows, self.sizes, self.kind = owner, rows, sizes, kind
        self.sends: list[tuple[int, Any, torch.Tensor]] = []

    def _recv(self, peer_stage: int, shape: tuple[int, ...], tag: int) -> torch.Tensor:
        o = self.o
        buf = torch.empty(shape, dtype=o.dtype, device=o.device)
        work = dist.irecv(buf, src=o.mesh.rank_of(peer_stage), tag=tag)
        o.wait(work, peer_stage, "receive")
        return buf

    def _send(self, peer_stage: int, t: torch.Tensor, tag: int) -> None:
        t = t.contiguous()
        if self.kind != _EVAL:  # training traffic only, as the simulator counts it
            self.o.stage_bytes += t.numel() * t.element_size()
        self.sends.append(
            (peer_stage, dist.isend(t, dst=self.o.mesh.rank_of(peer_stage), tag=tag), t)
        )

    def _shape(self, m: int, boundary: int) -> tuple[int, ...]:
        return (self.rows, self.sizes[m], *self.o.shapes[boundary])

    def recv_activation(self, m: int) -> torch.Tensor:
        s = self.o.mesh.stage
        return self._recv(s - 1, self._shape(m, s), 8 * m + self.kind)

    def send_activation(self, m: int, h: torch.Tensor) -> None:
        self._send(self.o.mesh.stage + 1, h, 8 * m + self.kind)

    def recv_grad(self, m: int) -> torch.Tensor:
        s = self.o.mesh.stage
        return self._recv(s + 1, self._shape(m, s + 1), 8 * m + _GRAD)

    def send_grad(self, m: int, g: torch.Tensor) -> None:
        self._send(self.o.mesh.stage - 1, g, 8 * m + _GRAD)

    def flush(self) -> None:
        for peer, work, _ in self.sends:
            self.o.wait(work, peer, "send")
        self.sends.clear()


class StageObjective(LocalObjective):
    """The local objective of one stage process: rows of its agent block, columns of its stage.

    ``gradient`` runs this stage's part of the pipeline and returns the
    gradient in the stage's columns; losses and forward outputs are broadcast
    from the last stage, so every process of the block sees the same metrics.
    ``row_sum`` adds a per-agent quantity over the stages (norms, consensus
    error). Every wait has the run's timeout and names the stage, the peer and
    the round.
    """

    layer_parallel = True

    def __init__(
        self,
        module: nn.Module,
        loss: Loss,
        shards: Shards,
        *,
        split: StageSplit,
        method: Scheduled,
        mesh: Mesh,
        dtype: torch.dtype,
        device: torch.device,
        timeout: float,
        batch_size: int = 0,
        seed: int = 0,
    ):
        super().__init__(module, loss, shards, batch_size=batch_size, seed=seed)
        self.split, self.method, self.mesh = split, method, mesh
        self.stage = split.stages[mesh.stage]
        self.layout = self.stage.layout  # X holds this stage's columns only
        self.last = mesh.stage == split.count - 1
        self.actions = SCHEDULES[method.schedule](split.count, method.microbatches)[mesh.stage]
        # Metrics run the model in eval mode (dropout off) on a copy, as LocalObjective does.
        self.eval_model = copy.deepcopy(module).train(False)
        self.eval_stage = split_model(self.eval_model, split.count, split.cut_points).stages[
            mesh.stage
        ]
        self.eval_model.to("meta")  # its layers take their parameters as arguments: free the copy
        self.shapes = boundary_shapes(split, tuple(shards.X.shape[2:]))
        self.dtype, self.device = dtype, device
        self.timeout = datetime.timedelta(seconds=timeout)
        self.round = 0

    def batch(self, t: int) -> Batch:
        self.round = t
        return super().batch(t)

    def wait(self, work: Any, peer_stage: int | None, what: str) -> None:
        """Wait for one message or collective, or raise ExchangeTimeout naming stage, peer and round."""
        me = f"stage {self.mesh.stage} of agent block {self.mesh.block}"
        peer = f"stage {peer_stage}" if peer_stage is not None else "the other stages"
        timed_wait(
            work, self.timeout, f"round {self.round}: {me}: {what} with {peer}",
            "a stage process died or the processes disagree about the configuration",
        )  # fmt: skip

    def _from_last(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        work = dist.broadcast(
            x,
            src=self.mesh.rank_of(self.split.count - 1),
            group=self.mesh.stage_group,
            async_op=True,
        )
        self.wait(work, self.split.count - 1, "broadcast")
        return x

    def row_sum(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` (per agent, this stage's part) summed over the stages of the agent block."""
        total = v.contiguous().clone()
        work = dist.all_reduce(total, group=self.mesh.stage_group, async_op=True)
        self.wait(work, None, "all-reduce")
        return total

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This stage's columns of the gradients of ``n * f_i`` (the serial gradient), and the losses."""
        stage = self.stage if training else self.eval_stage  # metrics: the eval-mode model
        worker = StageWorker(stage, self.loss if self.last else None)
        G = X.new_empty(X.shape)
        xs, targets = microbatches(batch, self.method.microbatches)
        worker.start(X, G, targets)
        link = _P2PLink(self, X.shape[0], [x.shape[1] for x in xs], _ACT if training else _EVAL)
        run_stage(worker, self.actions, xs if self.mesh.stage == 0 else None, link, last=self.last)
        losses = worker.losses if worker.losses is not None else X.new_zeros(X.shape[0])
        return G, self._from_last(losses.detach())

    def forward(self, X: torch.Tensor, x: torch.Tensor, *, training: bool = True) -> torch.Tensor:
        """Outputs ``(n, B, C)`` on every stage: the stages composed on the whole input, then broadcast."""
        worker = StageWorker(self.stage if training else self.eval_stage, None)
        worker.start(X, None)
        link = _P2PLink(self, X.shape[0], [x.shape[1]], _EVAL)
        h = x if self.mesh.stage == 0 else link.recv_activation(0)
        out = worker.forward(0, h)
        if not self.last:
            link.send_activation(0, out)
        link.flush()
        if not self.last:
            out = torch.empty(
                (X.shape[0], x.shape[1], *self.shapes[-1]), dtype=X.dtype, device=X.device
            )
        return self._from_last(out)

    def linearization(
        self, X: torch.Tensor, batch: Batch, *, blocks: bool = False, workers: int = 1
    ) -> Linearization:
        """The output linearization across the stages: every product is a pipelined pass.

        One forward (kept, with the graph of ``J^T u`` of this stage for
        double-backward products); ``push`` carries tangents forward stage by
        stage (one summed tangent for the whole model, or one per block: the
        blocks of earlier stages pass through, this stage's join), and ``pull``
        carries cotangents back. With ``blocks`` each block lies in one stage
        and this process solves its own. ``workers`` is not used here.
        """
        stage, s, rows, B = self.stage, self.mesh.stage, X.shape[0], batch.x.shape[1]
        own = stage.layout.blocks() if blocks else [slice(0, stage.dim)]
        counts = [len(st.layout.blocks()) for st in self.split.stages] if blocks else []
        first = sum(counts[:s]) if blocks else 0
        K = sum(counts) if blocks else 1
        arriving = first if blocks else 1  # tangent streams from the previous stage
        leaving = first + len(own) if blocks else 1
        starts = [sl.start for sl in own]
        owner = [
            sum(st <= off for st in starts) - 1 for off in stage.layout.offsets
        ]  # param -> block
        link = _P2PLink(self, rows, [B], _LIN)

        def shape(boundary: int, streams: int) -> tuple[int, ...]:
            return (streams, rows, B, *self.shapes[boundary])

        with torch.enable_grad():
            leaves = [v.detach().requires_grad_(True) for v in stage.layout.views(X).values()]
            h_in = batch.x if s == 0 else link.recv_activation(0).requires_grad_(True)
            out_s = stage.forward(dict(zip(stage.layout.names, leaves, strict=True)), h_in)
            u = torch.zeros_like(out_s, requires_grad=True)
            inputs = leaves if s == 0 else [*leaves, h_in]
            J = torch.autograd.grad(out_s, inputs, u, create_graph=True)
        if not self.last:
            link.send_activation(0, out_s.detach())
        link.flush()
        out = out_s.detach() if self.last else X.new_empty(shape(len(self.shapes) - 1, 1)[1:])
        out = self._from_last(out)

        def jvp(outputs: list[torch.Tensor], tangents: list[torch.Tensor]) -> torch.Tensor:
            return torch.autograd.grad(outputs, u, tangents, retain_graph=True)[0]

        def push(V: torch.Tensor) -> torch.Tensor:
            Vv = list(stage.layout.views(V).values())
            T_in = None if s == 0 else link._recv(s - 1, shape(s, arriving), _PUSH)
            if not blocks:
                tangents = Vv if T_in is None else [*Vv, T_in[0]]
                streams = [jvp(list(J), tangents)]
            else:
                streams = [jvp([J[-1]], [t]) for t in ([] if T_in is None else T_in)]
                for b in range(len(own)):  # this stage's layers
                    mine = [i for i, o in enumerate(owner) if o == b]
                    streams.append(jvp([J[i] for i in mine], [Vv[i] for i in mine]))
            T_out = torch.stack(streams)
            if not self.last:
                link._send(s + 1, T_out, _PUSH)
                T_out = X.new_empty(shape(len(self.shapes) - 1, K))
            link.flush()
            return self._from_last(T_out)

        def pull(U: torch.Tensor) -> torch.Tensor:
            cot = U if self.last else link._recv(s + 1, shape(s + 1, leaving), _PULL)
            G = X.new_empty(X.shape)
            views = list(stage.layout.views(G).values())
            back: list[torch.Tensor] = []
            if not blocks:
                grads = torch.autograd.grad(out_s, inputs, cot[0], retain_graph=True)
                for view, g in zip(views, grads, strict=False):
                    view.copy_(g)
                back = list(grads[len(leaves) :])
            else:
                for k in range(first):  # earlier stages' blocks: only through this stage's input
                    back.append(torch.autograd.grad(out_s, h_in, cot[k], retain_graph=True)[0])
                for b in range(len(own)):
                    mine = [i for i, o in enumerate(owner) if o == b]
                    grads = torch.autograd.grad(
                        out_s, [leaves[i] for i in mine], cot[first + b], retain_graph=True
                    )
                    for i, g in zip(mine, grads, strict=True):
                        views[i].copy_(g)
            if s > 0:
                link._send(s - 1, torch.stack(back), _PULL)
            link.flush()
            return G

        cols = stage.cols
        return Linearization(
            out, push, pull, blocks=K, first=first, local_blocks=len(own), block_of=block_index(own, stage.dim, X.device),
            columns=torch.arange(cols.start, cols.stop, device=X.device),
            reduce=(lambda v: v) if blocks else self.row_sum,
        )  # fmt: skip


def gather_columns(objective: StageObjective, x: torch.Tensor) -> torch.Tensor:
    """The whole ``(d,)`` vector from every stage's columns ``x`` (all processes of the block get it)."""
    split, mesh = objective.split, objective.mesh
    width = max(s.dim for s in split.stages)
    padded = torch.zeros(width, dtype=x.dtype, device=x.device)
    padded[: x.numel()] = x
    parts = [torch.empty_like(padded) for _ in range(split.count)]
    work = dist.all_gather(parts, padded, group=mesh.stage_group, async_op=True)
    objective.wait(work, None, "gather the model")
    full = torch.empty(split.layout.dim, dtype=x.dtype, device=x.device)
    for stage, part in zip(split.stages, parts, strict=True):  # S pieces, once per run
        full[stage.cols] = part[: stage.dim]
    return full
