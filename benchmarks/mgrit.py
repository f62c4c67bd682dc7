"""Multigrid in layers (``mgrit``): time per gradient against serial back-propagation, and a model to S stages.

Measured in one run (every process one thread, gloo over a ``file://``
rendezvous in a temporary folder; the spawning helpers of
``benchmarks/pipeline.py``). One agent of ``resnet:channels=C,depth=N`` on
digits (stem, N residual blocks ``u + h F(u)``, head), float32, batch
``--batch``, for each depth of ``--depths`` (default 16 and 32):

* **serial**: :class:`~consensus.objective.LocalObjective`, the whole model in
  one process, plain autograd: the gradient a user would otherwise compute;
* **sim**: :class:`~consensus.layerparallel.mgrit_objective.MGRITObjective`,
  multigrid in one process (every stage in turn): its arithmetic without
  parallelism;
* **mesh**: the agent as 2 stage processes
  (:class:`~consensus.layerparallel.mgrit_mesh.MGRITStageObjective`, the
  residual blocks split evenly by the library's split);

each with the library's defaults (``levels=2, cfactor=4, fwd_iters=2,
bwd_iters=1, relax=FCF``; "FCF"), with ``relax=F`` ("F") and with the accurate
``coarse=sum,init=nested`` ("sum": a coarse step from point ``t0`` to ``t1``
is ``u + sum_k h F_k(u)`` over every layer of its interval, each with its own
weights, ``t1 - t0`` fine steps' work; the initial guess by nested iteration
from the coarsest grid). Timed: one gradient
(``objective.gradient``), median of ``--repeats`` after a warm-up; the
one-process variants on rank 0 between the mesh's timings (rank 1 waits in a
barrier), so load on the machine hits them alike; the mesh's time is the
slower rank's. Also measured: the **work count**, step applications per pass
from ``objective.solver.work`` (forward, adjoint), against the ``2N`` of serial
back-propagation (N forward and N backward layer steps; a summed coarse step
counts its ``t1 - t0`` layers); the gradients' agreement (mesh against
simulator, and the relative error against serial); the **per-step costs**
at the state's shape, timed on rank 0 with the pass's own step code (below);
the **message latency** ``lam``: half the round trip of a state-sized
isend/irecv between the 2 processes; and ``g``, one all-gather of the residual
norms between them.

**Model.** With the per-step costs ``c_f`` (a forward step, no graph), ``c_g``
(a layer's residual with its graph, built once per adjoint pass), ``c_b`` (an
adjoint step: the vector-Jacobian product in the state) and ``c_p`` (an
adjoint step of the final sweep, with the parameters' gradients), each step
application's share ``o`` of the solver's own work (the sums, residuals and
norms around the steps; fitted so that the model gives the one-process FCF
run's CPU time at the deepest measured depth), and the serial gradient's
``T_1(N) = e + s N`` (``e`` the stem, head and loss, ``s`` per layer; both
fitted to the serial CPU times at the two measured depths), one agent's
gradient on S stage processes (one core each, the N layers split evenly) takes

    T_S(N) = e + R_S(N)

where ``R_S`` is the **critical path** of the forward and adjoint solves: the
solver's own loops (:class:`~consensus.layerparallel.mgrit_solver.MGRIT`)
replayed with a clock per stage instead of tensors: a step of stage ``s``
starts once ``s`` is free and its input has arrived and takes its cost plus ``o``; a
message arrives ``lam`` after it is sent; the residual norms of a solve are
one all-gather at its end that every stage waits for, ``(S - 1) g`` (gloo's
ring; with a tolerance, one per iteration). A summed coarse step (``sum``)
from ``t0`` to ``t1`` applies ``M = t1 - t0`` layers in turn on its stage:
``M c_f`` forward, ``M c_b`` adjoint plus ``M c_g`` for its summed graph the
first time in the pass (one vector-Jacobian product through the ``M``
layers' graph; ``o`` once, one step call); the weights a stage borrows for an
interval that spans stages arrive ``lam`` after the pass starts; ``init=nested``
replays the nested start (a sequential solve of the coarsest grid). For
the first-layer coarse steps, the copied start and two
levels, ``N / S`` a multiple of ``m`` (every stage owns whole C-intervals)
this is, with ``k = 3`` for FCF and ``k = 2`` for F relaxation, ``I`` forward
and ``J`` adjoint iterations (``c_f``, ``c_b``, ``c_p`` each plus ``o``),

    R_S(N) ~ I [c_f (k N/S + N/m) + S lam] + J [c_b (k N/S + N/m) + S lam]
           + 2 (S - 1) g + (c_g + c_p) N/S - c_b (1 - 1/m) N/S + lam

(``k N/S``: relaxation, residual and coarse right-hand side on each stage at
once; ``N/m``: the coarsest grid, solved in order across the stages, with
``S - 1`` message hops, and about one more boundary message per iteration
that the work does not hide; the last line: the adjoint's graphs and its final
sweep, whose steps also take the parameters' gradients, once per pass, and
the adjoint's start). It adds the iterations up, so it bounds the replay from
above: with no synchronisation between iterations (the norms are gathered once
per solve) a stage starts its next iteration while later stages finish the
last one; at N = 1,024 and S = 64 the replay is about 0.8 of it (the script
prints the check, for FCF and F only: the closed form does not cover ``sum``
or more levels). The replay also covers uneven splits, ``N / S <
m`` (an F-interval spans stages and runs in turn), more levels and ``sum``.

``sum`` is slower for the same reason it is accurate: its coarse steps apply
every layer, so a sweep of any level is ``N`` layer steps of work and the
coarsest grid, solved in order, is ``N`` steps in order per V-cycle (against
``N/m`` for first-layer coarse steps), plus one more such pass for the nested
start of each solve, where the adjoint also builds its summed graphs in order
(``N c_g``). Successive passes overlap across the stages (a stage starts the
next while later stages finish the last), but each solve keeps at least one,
so ``R_S(N) >= N (c_f + c_g + c_b)`` and its speedup stays below
``s / (c_f + c_g + c_b)`` however many stages (about 1 here), well below
first-layer MGRIT's. The model runs an interval's ``M`` layers one after the
other on one core; a stage that ran them as one wide kernel (the layers side
by side at one state) would shorten that pass, which this model does not
assume.

The speedup is ``T_1(N) / T_S(N)``; MGRIT **breaks even** at the smallest S where
it exceeds 1. Assumptions: one core per stage, the per-step costs and the
latency measured here (loopback gloo on this machine) hold at every S and N,
the same batch; the model is checked against the measured one-process
(S = 1) and 2-process times, wall and CPU (on a shared machine the CPU times
are the work; the wall times add what other processes took).

Run: ``python benchmarks/mgrit.py`` (about 35 s on a 2-core machine;
``--quick``, depths 8 and 12 at batch 32, for a smoke run of 15-25 s).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark's helpers
from pipeline import _join, _kb, _spawn  # noqa: E402

from consensus.layerparallel.layers import Layer  # noqa: E402
from consensus.layerparallel.methods import resolve_method  # noqa: E402
from consensus.layerparallel.mgrit import MGRITMethod, ResidualChain  # noqa: E402
from consensus.layerparallel.mgrit_mesh import MGRITStageObjective  # noqa: E402
from consensus.layerparallel.mgrit_pass import borrowed  # noqa: E402
from consensus.layerparallel.mgrit_solver import MGRIT  # noqa: E402

STAGES = 2
#: The variants: the library's defaults, F relaxation, and the accurate one (summed coarse
#: steps, nested start).
SPECS = {"FCF": "mgrit", "F": "mgrit:relax=F", "sum": "mgrit:coarse=sum,init=nested"}


# --------------------------------------------------------------------------- measured terms
def _median_cpu(fn: Callable[[], Any], repeats: int, inner: int = 1) -> float:
    """Median CPU seconds (this thread) of ``fn`` over ``repeats`` samples of ``inner`` calls.

    CPU time, not wall time: the work, without the time other processes take
    the core (the development machine is shared). One warm-up call first.
    """
    fn()
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(inner):
            fn()
        samples.append((time.thread_time() - start) / inner)
    return statistics.median(samples)


def _layer_costs(
    layer: Layer, P: dict[str, torch.Tensor], u: torch.Tensor, lam: torch.Tensor, repeats: int
) -> dict[str, float]:
    """CPU seconds of each kind of step of one layer (see :func:`step_costs`)."""
    from consensus.layerparallel.mgrit_pass import _leaves

    residual, h = layer.residual, layer.h
    assert residual is not None

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return u + h * residual(P, u)

    def build() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        leaves = _leaves((layer,), P)
        with torch.enable_grad():
            x = u.detach().requires_grad_(True)
            return leaves, x, residual(leaves, x)

    leaves, x, out = build()

    def adjoint() -> torch.Tensor:
        return lam + torch.autograd.grad(out, x, lam * h, retain_graph=True)[0]

    def final() -> torch.Tensor:
        grads = torch.autograd.grad(out, [*leaves.values(), x], lam * h, retain_graph=True)
        return lam + grads[-1]

    kinds = {"f": forward, "g": build, "b": adjoint, "p": final}
    return {k: _median_cpu(fn, repeats, inner=5) for k, fn in kinds.items()}


def step_costs(
    chain: ResidualChain, P: dict[str, torch.Tensor], u: torch.Tensor, repeats: int
) -> dict[str, float]:
    """CPU seconds of one layer step of each kind, with the code of ``MGRITPass.run``'s steps.

    ``f``: a forward step (no graph); ``g``: a layer's residual with its graph
    (the adjoint builds it once per layer and pass); ``b``: an adjoint step
    (vector-Jacobian product in the state, graph kept); ``p``: an adjoint step
    of the final sweep (also the parameters' gradients). Median over the chain's
    first four layers.
    """
    lam = torch.randn_like(u)
    per_layer = [_layer_costs(layer, P, u, lam, repeats) for layer in chain.steps[:4]]
    return {k: statistics.median(c[k] for c in per_layer) for k in "fgbp"}


def _ping_pong(rank: int, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Half the round trip of ``x`` between ranks 0 and 1 (isend / irecv): median and fastest."""
    buf = torch.empty_like(x)
    peer = 1 - rank
    samples = []
    for _ in range(repeats + 2):
        dist.barrier()
        start = time.perf_counter()
        ops = [lambda: dist.isend(x, dst=peer), lambda: dist.irecv(buf, src=peer)]
        for op in ops if rank == 0 else ops[::-1]:
            work = op()
            assert work is not None
            work.wait()
        samples.append((time.perf_counter() - start) / 2)
    return statistics.median(samples[2:]), min(samples[2:])


def _gather_time(x: torch.Tensor, repeats: int) -> float:
    """Seconds of one all-gather of ``x`` over the 2 processes, median."""
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    samples = []
    for _ in range(repeats + 2):
        dist.barrier()
        start = time.perf_counter()
        dist.all_gather(out, x)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[2:])


# --------------------------------------------------------------------------- processes
class TimedStage(MGRITStageObjective):
    """The mesh's stage objective, timing its waits for the other stage (receives, gathers, flush)."""

    waited = 0.0  # wall seconds waiting

    def wait(self, work: Any, peer_stage: int | None, what: str) -> None:
        start = time.perf_counter()
        super().wait(work, peer_stage, what)
        self.waited += time.perf_counter() - start


def _setup(o: dict[str, Any], depth: int) -> dict[str, Any]:
    from consensus.setup import initial_parameters, local_shards, make_problem

    problem = make_problem("digits", f"resnet:channels={o['channels']},depth={depth}", agents=1, seed=0)  # fmt: skip
    shards = local_shards(problem, np.arange(1), dtype=torch.float32, device="cpu")
    X = initial_parameters(problem, np.arange(1), init="same", seed=0, dtype=torch.float32)
    return {"problem": problem, "shards": shards, "X": X}


def _timed(objective: Any, X: torch.Tensor, batch: Any) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and seconds waiting for the other stage of one gradient."""
    waited = getattr(objective, "waited", 0.0)
    start, thread = time.perf_counter(), time.thread_time()
    objective.gradient(X, batch)
    wall, cpu = time.perf_counter() - start, time.thread_time() - thread
    return wall, cpu, getattr(objective, "waited", 0.0) - waited


def _worker(rank: int, world: int, rendezvous: str, out: str, o: dict[str, Any]) -> None:
    """Ranks 0 and 1: the 2 stages of one agent; rank 0 also times the one-process variants."""
    _join(rank, world, rendezvous)
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.layerparallel import plan as plan_module
    from consensus.layerparallel.mesh import build_mesh
    from consensus.objective import LocalObjective

    # The stage processes build TimedStage where the library builds MGRITStageObjective.
    plan_module.OBJECTIVES["mgrit"] = (plan_module.OBJECTIVES["mgrit"][0], TimedStage)
    mesh = build_mesh(world, rank, STAGES, torch.device("cpu"))
    result: dict[str, Any] = {"depths": {}}
    for depth in o["depths"]:
        s = _setup(o, depth)
        problem, shards, X = s["problem"], s["shards"], s["X"]
        common = dict(batch_size=o["batch"], seed=0, dtype=torch.float32, device="cpu")
        meshed: dict[str, Any] = {}
        one: dict[str, Any] = {}
        for variant, spec in SPECS.items():
            plan = layer_parallel(problem.module, STAGES, spec)
            assert plan is not None
            staged = LayerParallel(plan.split, plan.method, mesh, timeout=120)
            meshed[variant] = staged.objective(problem.module, problem.loss, shards, **common)
            if rank == 0:
                one[f"sim {variant}"] = plan.objective(
                    problem.module, problem.loss, shards, **common
                )
        cols = staged.columns
        if rank == 0:
            one = {"serial": LocalObjective(problem.module, problem.loss, shards, batch_size=o["batch"], seed=0), **one}  # fmt: skip
        batch = meshed["FCF"].batch(0)
        Xs = X[:, cols].contiguous()
        samples: dict[str, list[tuple[float, float, float]]] = {}
        for _ in range(1 + o["repeats"]):  # the first repeat warms up
            dist.barrier()
            for name, objective in one.items():
                # serial: the median of 3 per sample (its fit to two depths feeds every ratio)
                runs = [_timed(objective, X, batch) for _ in range(3 if name == "serial" else 1)]
                wall, cpu, wait = (statistics.median(column) for column in zip(*runs, strict=True))
                samples.setdefault(name, []).append((wall, cpu, wait))
            for variant, objective in meshed.items():
                dist.barrier()
                samples.setdefault(f"mesh {variant}", []).append(_timed(objective, Xs, batch))
        entry: dict[str, Any] = {
            "times": {k: [t[0] for t in v[1:]] for k, v in samples.items()},
            "cpu": {k: statistics.median(t[1] for t in v[1:]) for k, v in samples.items()},
            "waits": {k: statistics.median(t[2] for t in v[1:]) for k, v in samples.items()},
            "cols": (cols.start, cols.stop),
        }
        entry["G_mesh"] = {k: obj.gradient(Xs, batch)[0] for k, obj in meshed.items()}
        state_shape = (1, o["batch"], *meshed["FCF"].chain.state)  # one agent's batch of states
        entry["steps"] = list(meshed["FCF"].chain.owners).count(mesh.stage)
        entry["stage_bytes"] = {k: obj.stage_bytes for k, obj in meshed.items()}
        if rank == 0:
            entry["G"] = {k: obj.gradient(X, batch)[0] for k, obj in one.items()}
            entry["work"] = {k: one[f"sim {k}"].solver.work for k in SPECS}
            entry["residuals"] = {
                k: [float(v.max()) for v in one[f"sim {k}"].solver.forward_residuals] for k in SPECS
            }
            sim = one["sim FCF"]
            u = torch.randn(state_shape, generator=torch.Generator().manual_seed(0))
            P = sim.split.layout.views(X)
            entry["costs"] = step_costs(sim.solver.chain, P, u, o["cost_repeats"])
            entry["state_bytes"] = u.numel() * u.element_size()
        result["depths"][depth] = entry
    # The messages of a pass: a state-sized tensor one way, and the all-gather of the norms.
    result["latency"] = _ping_pong(rank, torch.randn(state_shape), o["latency_repeats"])
    result["gather"] = _gather_time(torch.zeros(1), o["latency_repeats"])
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.barrier()  # both ranks done with every message before the group goes
    dist.destroy_process_group()


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Costs:
    """Measured seconds: per-step costs, one message, one all-gather hop, the serial fit."""

    f: float  # forward step
    g: float  # a layer's residual with its graph (once per adjoint pass)
    b: float  # adjoint step (state only)
    p: float  # adjoint step with the parameters' gradients (final sweep)
    lam: float  # one state-sized message
    gather: float  # one hop of the residual norms' all-gather
    e: float  # serial gradient's fixed part (stem, head, loss)
    s: float  # serial gradient per layer
    o: float = 0.0  # the solver's own work per step application (sums, norms, bookkeeping)


class _Clock:
    """A value's arrival time, standing in for a state tensor in the solver's loops.

    Arithmetic (``u + g``, residuals, norms) costs nothing and is ready when its
    last operand is.
    """

    shape = (1,)

    def __init__(self, t: float):
        self.t = t

    def _join(self, other: Any) -> _Clock:
        return _Clock(max(self.t, other.t if isinstance(other, _Clock) else 0.0))

    __add__ = __radd__ = __sub__ = __rsub__ = _join

    def _same(self, *args: Any, **kwargs: Any) -> _Clock:
        return self

    reshape = square = sum = sqrt = _same

    def new_zeros(self, *args: Any) -> _Clock:
        return _Clock(0.0)

    def unbind(self, dim: int = 0) -> list[_Clock]:
        return [self]

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """torch functions on clocks (the solver stacks its norms): ready with the last operand."""
        flat = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else [arg])]
        return _Clock(max((a.t for a in flat if isinstance(a, _Clock)), default=0.0))


class _ClockTransport:
    """Every stage in one replay; a stage's clock waits for what it receives, in program order."""

    def __init__(self, clock: list[float], lam: float, gather: float):
        self.clock, self.lam, self.gather = clock, lam, gather

    def mine(self, stage: int) -> bool:
        return True

    def move(self, x: Any, src: int, dst: int, shape: Any = None) -> Any:
        if x is None or src == dst:
            return x
        arrival = x.t + self.lam
        self.clock[dst] = max(self.clock[dst], arrival)  # the receiver waits here
        return _Clock(arrival)

    def stage_sum(self, parts: list[Any]) -> _Clock:
        done = max(self.clock) + (len(self.clock) - 1) * self.gather  # every stage waits
        self.clock[:] = [done] * len(self.clock)
        return _Clock(done)

    def world_max(self, v: Any) -> float:
        return 0.0


def _even_owners(N: int, S: int) -> list[int]:
    """Stage of each of N layers split into S contiguous, near-equal parts (larger first)."""
    return [s for s, part in enumerate(np.array_split(np.arange(N), S)) for _ in part]


def critical_path(N: int, S: int, method: MGRITMethod, c: Costs) -> float:
    """``R_S(N)``: seconds of the forward and adjoint solves on S stages (the solver replayed).

    A step costs its kind's per-step cost plus ``o``; a summed coarse step
    (``coarse=sum``) from point ``t0`` to ``t1`` applies ``t1 - t0`` layers: ``(t1 - t0)
    c_f`` forward, ``(t1 - t0) c_b`` adjoint plus ``(t1 - t0) c_g`` for its graph the
    first time in the pass (``o`` once: one step call). ``init=nested`` replays the
    nested start.
    """
    owners = _even_owners(N, S)
    clock = [0.0] * S
    tr: Any = _ClockTransport(clock, c.lam, c.gather)
    summed = method.coarse == "sum"
    built: set[tuple[int, int]] = set()  # the adjoint's graphs of this pass, by (t0, t1)

    def width(t0: int, t1: int) -> int:
        """Layers a step applies: every layer of its interval where summed, else one."""
        return t1 - t0 if summed else 1

    def runner(owner_of: list[int], cost: Callable[[int, int, bool], float]) -> Any:
        def step(t0: int, t1: int, u: Any, final: bool) -> _Clock:
            s = owner_of[t0]
            clock[s] = max(clock[s], u.t) + cost(t0, t1, final) + c.o
            return _Clock(clock[s])

        return step

    def forward(t0: int, t1: int, final: bool) -> float:
        return width(t0, t1) * c.f

    def backward(t0: int, t1: int, final: bool) -> float:
        # first-layer steps share the graph of layer t0 with its fine step; a summed step has its own
        M = width(t0, t1)
        extra = 0.0 if (t0, t0 + M) in built else M * c.g
        built.add((t0, t0 + M))
        return extra + M * (c.p if final else c.b)

    def solver(
        owner_of: list[int], end: int, cost: Callable[[int, int, bool], float], sweep: bool
    ) -> MGRIT:
        return MGRIT(
            owner_of, end, S, runner(owner_of, cost), tr, cfactor=method.cfactor,
            levels=method.levels, relax=method.relax, param_sweep=sweep,
            nested=method.init == "nested",
        )  # fmt: skip

    if summed:  # the borrowed weights (smaller than a state) arrive lam after the pass starts
        for s in {stage for _, stage in borrowed(owners, method)}:
            clock[s] = max(clock[s], c.lam)
    fwd = solver(owners, S - 1, forward, False)
    start: Any = _Clock(0.0)  # stands for the tensors the solver expects
    fwd.solve(start, start, method.fwd_iters)
    # The head (in e) on the last stage; its lambda_N starts the adjoint there.
    lam_N: Any = _Clock(clock[S - 1])
    adj = solver(owners[::-1], 0, backward, True)
    adj.solve(lam_N, lam_N, method.bwd_iters)
    return max(clock)


def closed_form(N: int, S: int, method: MGRITMethod, c: Costs) -> float:
    """The docstring's ``R_S(N)`` (two levels, ``N / S`` a multiple of ``m``, first-layer coarse steps, copied start)."""
    if not _closed(method):
        raise ValueError(f"the closed form does not cover {method.spec()}")
    k = 3 if method.relax == "FCF" else 2
    m = method.cfactor
    f, b, p = c.f + c.o, c.b + c.o, c.p + c.o  # every step application also costs o
    per_iter = S * c.lam
    return (
        method.fwd_iters * (f * (k * N / S + N / m) + per_iter)
        + method.bwd_iters * (b * (k * N / S + N / m) + per_iter)
        + 2 * (S - 1) * c.gather
        + (c.g + p) * N / S
        - b * (1 - 1 / m) * N / S
        + c.lam
    )


def _closed(method: MGRITMethod) -> bool:
    """Whether :func:`closed_form` covers ``method``."""
    return method.levels == 2 and method.coarse == "first" and method.init == "copy"


def model_time(N: int, S: int, method: MGRITMethod, c: Costs) -> float:
    """``T_S(N) = e + R_S(N)``."""
    return c.e + critical_path(N, S, method, c)


# --------------------------------------------------------------------------- tables
def _ms(t: float) -> str:
    return f"{t * 1e3:.2f}"


def _method(variant: str) -> MGRITMethod:
    """The method of a variant of :data:`SPECS`."""
    method = resolve_method(SPECS[variant])
    assert isinstance(method, MGRITMethod)
    return method


def table_measured(ranks: list[dict[str, Any]], o: dict[str, Any]) -> dict[int, dict[str, float]]:
    """Table 1: ms per gradient and ratios to serial; the work count; the gradients' agreement."""
    print(
        f"\n1. One gradient of one agent, resnet:channels={o['channels']} on digits, batch "
        f"{o['batch']}, float32; median of {o['repeats']} (mesh: the slower rank per gradient). "
        "FCF = the defaults (levels 2, cfactor 4, 2 fwd / 1 bwd iterations, FCF); F = relax=F; "
        "sum = coarse=sum,init=nested"
    )
    header = (
        f"{'N':>4} {'variant':<8} {'ms/grad':>8} {'cpu ms':>11} {'wait ms':>11} {'vs serial':>9} "
        f"{'work fwd+adj':>12} {'per iter':>9} {'work/2N':>7}"
    )
    print(header)
    print("-" * len(header))
    med: dict[int, dict[str, float]] = {}
    crowded = False
    for depth in o["depths"]:
        parts = [r["depths"][depth] for r in ranks]
        names = list(parts[0]["times"])
        times = {
            k: [
                max(p["times"][k][i] for p in parts if k in p["times"]) for i in range(o["repeats"])
            ]
            for k in names
        }
        m = med[depth] = {k: statistics.median(v) for k, v in times.items()}
        base = m["serial"]
        for k in names:
            cpus = [p["cpu"][k] for p in parts if k in p["cpu"]]
            waited = [p["waits"][k] for p in parts if k in p["waits"]]
            crowded |= m[k] > 1.15 * max(c + w for c, w in zip(cpus, waited, strict=True)) + 5e-4
            work = ("", "", "")
            if k.startswith("sim"):
                variant = k.split()[1]
                method, (wf, wb) = _method(variant), parts[0]["work"][variant]
                per = f"{wf / method.fwd_iters:g}+{wb / method.bwd_iters:g}"
                work = (f"{wf}+{wb}", per, f"{(wf + wb) / (2 * depth):.2f}")
            elif k == "serial":
                work = (f"{depth}+{depth}", "", "1.00")
            cells = "/".join(_ms(c) for c in cpus)
            waits = "/".join(_ms(w) for w in waited) if k.startswith("mesh") else ""
            print(
                f"{depth:>4} {k:<8} {_ms(m[k]):>8} {cells:>11} {waits:>11} {m[k] / base:>8.2f}x "
                f"{work[0]:>12} {work[1]:>9} {work[2]:>7}"
            )
    print(
        "vs serial = the variant's time / serial back-propagation's (above 1: slower); cpu = the "
        "process's CPU time (main thread; mesh: stage 0 / stage 1); wait = a stage's time in waits "
        "for the other (receives, the norms' all-gathers, the loss broadcast); work = step applications per "
        "pass (objective.solver.work, forward + adjoint; a summed coarse step counts its layers), "
        "per iteration (sum: with its nested start, N per solve), and against serial "
        "back-propagation's 2N (N forward and N backward layer steps)."
    )
    if crowded:
        print(
            "NOTE: some wall times exceed CPU + wait time by more than 15%: the processes did not "
            "have a core each (other work on the machine took it)."
        )
    for depth in o["depths"]:
        d0, parts = ranks[0]["depths"][depth], [r["depths"][depth] for r in ranks]
        steps = "/".join(str(p["steps"]) for p in parts)
        print(f"  N = {depth}: layers per stage {steps}")
        for variant in SPECS:
            # every mesh gradient so far: the warm-up, the timed ones, the one compared here
            sent = _kb(sum(p["stage_bytes"][variant] for p in parts) / (o["repeats"] + 2))
            G_mesh = torch.cat([p["G_mesh"][variant] for p in parts], dim=1)
            G_sim, G_serial = d0["G"][f"sim {variant}"], d0["G"]["serial"]
            same = float((G_mesh - G_sim).abs().max())
            err = float((G_sim - G_serial).norm() / G_serial.norm())
            res = " ".join(f"{r:.1e}" for r in d0["residuals"][variant])
            print(
                f"    {variant}: mesh vs sim max |dG| {same:.1e}; relative error vs serial {err:.1e}; "
                f"forward residual per iteration {res}; {sent} between the stages per gradient"
            )
    return med


def fit_costs(ranks: list[dict[str, Any]], o: dict[str, Any]) -> Costs:
    """The model's terms: the step costs of the deepest run, the latency, the serial fit (CPU times)."""
    depths = o["depths"]
    lo, hi = min(depths), max(depths)
    cpu = {d: ranks[0]["depths"][d]["cpu"]["serial"] for d in depths}
    s = (cpu[hi] - cpu[lo]) / (hi - lo)
    e = cpu[lo] - s * lo
    step = ranks[0]["depths"][hi]["costs"]
    lam = max(r["latency"][0] for r in ranks)
    gather = max(r["gather"] for r in ranks)
    c = Costs(step["f"], step["g"], step["b"], step["p"], lam, gather, e, s)
    # The solver's own work: what the one-process run (FCF, deepest) takes beyond its steps.
    d = ranks[0]["depths"][hi]
    rest = d["cpu"]["sim FCF"] - model_time(hi, 1, MGRITMethod(), c)
    return replace(c, o=max(rest, 0.0) / sum(d["work"]["FCF"]))


def table_terms(ranks: list[dict[str, Any]], med: dict[int, dict[str, float]], c: Costs, o: dict[str, Any]) -> None:  # fmt: skip
    """Table 2: the measured terms, and the model against the measured times (S = 1 and 2)."""
    state = ranks[0]["depths"][max(o["depths"])]["state_bytes"]
    fastest = min(r["latency"][1] for r in ranks)
    print(
        f"\n2. Measured terms (ms, CPU time of one thread): per layer step forward c_f {_ms(c.f)}, "
        f"graph c_g {_ms(c.g)}, adjoint c_b {_ms(c.b)}, adjoint with parameters c_p {_ms(c.p)}; "
        f"serial gradient T_1(N) = e + s N with e {_ms(c.e)}, s {_ms(c.s)} per layer (c_g + c_p = "
        f"{_ms(c.g + c.p)}). Wall time: a {_kb(state)} state message lam {_ms(c.lam)} (median; "
        f"fastest {_ms(fastest)}), one all-gather of the residual norms g {_ms(c.gather)}. Fitted: "
        f"the solver's own work per step application o {_ms(c.o)} (* below: the run it is fitted to)"
    )
    header = (
        f"{'N':>4} {'variant':<8} {'wall ms':>8} {'cpu ms':>8} {'model ms':>9} "
        f"{'model/wall':>10} {'model/cpu':>9}"
    )
    print(header)
    print("-" * len(header))
    for depth in o["depths"]:
        parts = [r["depths"][depth] for r in ranks]
        rows = [("serial", 1, c.e + c.s * depth)]
        for variant in SPECS:
            rows += [(f"{kind} {variant}", S, model_time(depth, S, _method(variant), c))
                     for kind, S in (("sim", 1), ("mesh", STAGES))]  # fmt: skip
        for k, _, t in rows:
            cpu = max(p["cpu"][k] for p in parts if k in p["cpu"])
            mark = "*" if (k, depth) == ("sim FCF", max(o["depths"])) else ""
            print(
                f"{depth:>4} {k + mark:<8} {_ms(med[depth][k]):>8} {_ms(cpu):>8} {_ms(t):>9} "
                f"{t / med[depth][k]:>10.2f} {t / cpu:>9.2f}"
            )
    print(
        "model: serial e + s N; sim and mesh T_S(N) = e + R_S(N) with S = 1 and 2 (the docstring). "
        "cpu: the slower process's; on the mesh it leaves out the waits for the other stage, which "
        "the model counts, so model/cpu > 1 there is expected. On an idle machine the one-process "
        "rows have wall = cpu."
    )


def table_model(c: Costs, o: dict[str, Any]) -> None:
    """Table 3: the modelled speedup T_1(N) / T_S(N), and where it breaks even."""
    stages, depths = o["model_stages"], o["model_depths"]
    variants = {
        "FCF (defaults)": MGRITMethod(),
        "F": MGRITMethod(relax="F"),
        "FCF levels=3": MGRITMethod(levels=3),
        "sum": _method("sum"),
    }
    print(
        "\n3. Modelled speedup over serial back-propagation, T_1(N) / T_S(N), from table 2's terms "
        "(levels=3: the same terms, not measured; sum: coarse=sum,init=nested); - where S > N"
    )
    header = f"{'variant':<15} {'N':>5} " + " ".join(f"{'S=' + str(S):>6}" for S in stages) + f" {'break-even':>10}"  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, method in variants.items():
        for N in depths:
            serial = c.e + c.s * N
            cells, even = [], "-"
            for S in stages:
                if S > N:
                    cells.append(f"{'-':>6}")
                    continue
                speedup = serial / model_time(N, S, method, c)
                cells.append(f"{speedup:>5.2f}x")
                if speedup > 1 and even == "-":
                    even = f"S={S}"
            print(f"{name:<15} {N:>5} " + " ".join(cells) + f" {even:>10}")
    N, S = max(depths), max(stages)
    checks = ", ".join(
        f"{name} {critical_path(N, S, method, c) / closed_form(N, S, method, c):.3f}"
        for name, method in variants.items()
        if _closed(method)
    )
    ceiling = c.s / (c.f + c.g + c.b)
    print(
        "break-even = the smallest S (of those shown) with a speedup above 1. The bound as S grows: the "
        "coarsest grid, N/m steps in order per iteration, and S-1 message hops per solve. sum: its "
        "coarse steps apply every layer of their interval, so its coarsest grid is N layer steps "
        "in order per V-cycle, and once more for each solve's nested start (where the adjoint also "
        "builds the summed graphs, in order); successive passes overlap across the stages, but "
        "each solve has at least one, so as N grows its speedup stays below "
        f"s / (c_f + c_g + c_b) = {ceiling:.2f}x (one core per stage, an interval's layers in turn). "
        f"Check: the replay / the docstring's closed form (first-layer coarse steps, two levels) at "
        f"N = {N}, S = {S}: {checks}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (< 60 s)")
    parser.add_argument("--depths", default="16,32", help="measured depths N (at least two)")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64, help="samples per gradient")
    parser.add_argument("--repeats", type=int, default=None, help="timed gradients (default 7)")
    parser.add_argument("--stages", default="2,4,8,16,32,64", help="S of the model")
    parser.add_argument(
        "--model-depths", default="16,32,64,128,256,512,1024", help="N of the model"
    )
    args = parser.parse_args()
    depths = sorted({int(d) for d in args.depths.split(",")})
    if len(depths) < 2:
        parser.error("--depths needs at least two depths (the serial fit)")
    o: dict[str, Any] = dict(
        depths=depths, channels=args.channels, batch=args.batch,
        repeats=args.repeats or (3 if args.quick else 7), cost_repeats=5 if args.quick else 15,
        latency_repeats=20 if args.quick else 100,
        model_stages=[int(s) for s in args.stages.split(",")],
        model_depths=[int(n) for n in args.model_depths.split(",")],
    )  # fmt: skip
    if args.quick:
        o.update(depths=[8, 12], batch=min(args.batch, 32))
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, one thread per process, {os.cpu_count()} cores; load average at "
        f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ranks = _spawn(_worker, STAGES, Path(tmp), "mgrit", o)
    med = table_measured(ranks, o)
    costs = fit_costs(ranks, o)
    table_terms(ranks, med, costs, o)
    table_model(costs, o)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
