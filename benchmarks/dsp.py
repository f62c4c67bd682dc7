"""Diversely stale parameters (``dsp``) against the exact pipeline (GPipe, 1F1B) on 2 stage processes.

Measured in one run (every process one thread, gloo over a ``file://``
rendezvous in a temporary folder: no port, no ``torchrun``; the spawning
helpers of ``benchmarks/pipeline.py``). One agent of ``--model`` (default
``resnet:channels=16,depth=4``: stem and two residual blocks in stage 0, two
blocks and the head in stage 1, equal parameter counts) on digits, split into
2 stages, float32, at **equal micro-batch size** ``b`` (``--micro``, 32): the
pipeline's gradient is ``M`` micro-batches of ``b`` (a batch of ``M b``); a DSP
round forwards one batch of ``b`` and backwards an older one on every stage.

1. **Throughput** (the gradient oracle, fixed parameters): samples per second
   of ``gpipe M`` and ``1f1b M`` (:class:`~consensus.layerparallel.mesh.StageObjective`,
   ``pipeline:schedule=S,microbatches=M``) for M of ``--microbatches`` (1, 2, 4, 8),
   of ``dsp`` (``staleness=auto``, ``recompute=false``) and ``dsp rt``
   (``recompute=true``) after the warm-up
   (:class:`~consensus.layerparallel.dsp_mesh.DSPStageObjective`), and of
   ``serial B``: the whole model in one process (``LocalObjective``), batch
   B. Each timing sample runs ``--inner`` micro-batches' worth of samples; the
   mesh's time is the slower rank's; median of ``--repeats`` samples after one
   warm-up sample; the one-process variants run on rank 0 between the mesh's
   samples (rank 1 waits in a barrier), so load hits all alike. Per stage:
   its **idle fraction**, the wall time in its waits for the other stage
   (receives, send flushes, the losses' broadcast) over the gradient's time:
   for DSP the stage objective's own ``waited_s``, for the pipeline a
   subclass of the stage objective that times its ``wait`` (the library has no
   counter there); and DSP's own count of idle rounds
   (``stage_idle_steps``: rounds with no forward or no backward, or a wait
   within the round), which must not grow after the warm-up. The per-stage
   CPU seconds of every forward and backward (of a micro-batch) are timed in
   the same subclasses (the library is not changed; they are installed in
   ``plan.OBJECTIVES``).

2. **Model** for S stages, from table 1's measured terms: per micro-batch of
   ``b`` samples, stage ``s``'s forward ``f_s`` and backward ``b_s`` (CPU
   seconds; DSP's own: its forward keeps a copy of the stage's parameters,
   with ``recompute=true`` the backward of a stage with staleness > 0 re-runs
   its forward first), the message latency ``lam`` (half the round trip of a
   micro-batch's boundary activation between the processes), the losses'
   broadcast ``g`` and the rest of a gradient on a stage ``h`` (its CPU seconds
   outside the forwards and backwards). A pipeline gradient of M micro-batches
   (GPipe and 1F1B alike: the same critical path, 1F1B keeps fewer
   activations) and a DSP round in the steady state take::

       T_pipe(S, M) = sum_s (f_s + b_s) + (M - 1) max_s (f_s + b_s) + 2 (S - 1) lam + h + g
       T_dsp(S)     = max_s (f_s + b_s + r_s) + lam + h + g

   with ``r_s`` the recomputation (``f_s`` on every stage with staleness > 0,
   all but the last with ``auto``, when ``recompute=true``; else 0); throughput ``M b / T_pipe`` and ``b / T_dsp``.
   For S stages of equal cost (the same model cut into S stages: ``f_s = F / S``,
   ``b_s = B / S`` with ``F``, ``B`` the whole model's, measured as the sums over
   the 2 stages)::

       T_pipe(S, M) = (M + S - 1) (F + B) / S + 2 (S - 1) lam + h + g
       T_dsp(S)     = (F + B + rho F) / S + lam + h + g      (rho = 1 with recompute=true, else 0)

   so the pipeline is idle a fraction ``(S - 1) / (M + S - 1)`` of its time
   (the bubble) and DSP none in the steady state; with negligible ``lam``,
   ``h`` and ``g`` DSP's throughput is ``(M + S - 1) / M`` times the
   pipeline's without recomputation and ``(M + S - 1) / M * (F + B) / (2 F + B)``
   with it. The warm-up (``2 (S - 1)`` rounds until every stage has a
   backward) is left out: it costs the first rounds of a run only.
   Assumptions: one core per stage process; the stages' costs as measured
   (the first form, checked against table 1 at S = 2) or equal (the second,
   for S = 4 and 8: a model with at least S layers of equal cost);
   ``lam``, ``g`` and ``h`` as measured at S = 2 (each stage talks to its
   neighbours, the broadcast is one message to each stage); the messages of
   the pipeline's steady state and DSP's overlap with compute, only the
   fill and drain hops do not (optimistic for 1F1B with balanced stages,
   whose every backward waits for a round trip through the next stage).
   **Calibrated**: the same plus ``w``, what the measured gradient (DSP: round)
   took at S = 2 beyond the first form (the transport's threads, waits beyond
   ``lam`` and ``g``, time the cores gave to other work), kept constant at every S:
   the model of this machine's transport, where the plain model is that of an
   ideal one.

3. **Accuracy against wall time**: short training runs, one agent, dsgd with
   momentum ``--momentum``: ``gpipe M`` and ``1f1b M`` (M =
   ``--train-microbatches``, 4; batch ``M b``, step ``--lr`` 0.1, ``--rounds``
   400 rounds), ``dsp`` (batch
   ``b``, M times the rounds: the same samples; step ``lr / M``, the linear
   scaling rule, unless ``--dsp-lr``), and ``serial`` (one process, the whole
   model, batch ``M b``, step ``lr``: the pipeline's arithmetic without
   stages). The runs go in turns of ``rounds / chunks`` pipeline rounds (the
   same samples for DSP), interleaved; the training rounds (``Engine.step``:
   gradient, update, gossip) are timed, the evaluations (test accuracy of the
   exact forward pass) are not. Printed: test accuracy against training
   seconds and samples at every turn, each run's throughput, and its idle
   time: the stage waits, and DSP's idle-step counters from the run's
   metrics (``stage_idle_steps``, ``stage_forwards``, ``stage_backwards``).

Run: ``python benchmarks/dsp.py`` (about 50 s on an idle 2-core machine, 80 s
busy; ``--quick`` for a smoke run of 10-20 s).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmarks' helpers
from mgrit import _ping_pong  # noqa: E402
from pipeline import _join, _kb, _spawn  # noqa: E402

from consensus.layerparallel import DSPMethod, PipelineMethod, idle_fraction  # noqa: E402
from consensus.layerparallel.dsp_mesh import DSPStageObjective  # noqa: E402
from consensus.layerparallel.mesh import _ACT, StageObjective, _P2PLink  # noqa: E402
from consensus.layerparallel.objective import microbatches  # noqa: E402
from consensus.layerparallel.pipeline import StageWorker, run_stage  # noqa: E402
from consensus.objective import Batch  # noqa: E402

STAGES = 2
SCHEDULES = ("gpipe", "1f1b")


# --------------------------------------------------------------------------- instrumentation
class Clocks:
    """A stage's timers, reset per timing sample: CPU seconds of forwards and backwards, waits."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fwd = self.bwd = 0.0  # CPU seconds (this thread)
        self.n_fwd = self.n_bwd = 0  # micro-batches forwarded / backwarded
        self.waited = 0.0  # wall seconds in waits for the other stage (pipeline only)


class TimedWorker(StageWorker):
    """The pipeline's stage worker, timing each forward and backward (CPU seconds)."""

    def __init__(self, stage: Any, loss: Any, clocks: Clocks):
        super().__init__(stage, loss)
        self.clocks = clocks

    def forward(self, m: int, h: torch.Tensor) -> torch.Tensor:
        start = time.thread_time()
        out = super().forward(m, h)
        self.clocks.fwd += time.thread_time() - start
        self.clocks.n_fwd += 1
        return out

    def backward(self, m: int, grad_out: torch.Tensor | None = None) -> torch.Tensor | None:
        start = time.thread_time()
        out = super().backward(m, grad_out)
        self.clocks.bwd += time.thread_time() - start
        self.clocks.n_bwd += 1
        return out


class TimedPipeStage(StageObjective):
    """The pipeline's stage objective with timed waits and a timed worker (the same actions, values)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clocks = Clocks()
        self._timing = False

    def wait(self, work: Any, peer_stage: int | None, what: str) -> None:
        if not self._timing:
            return super().wait(work, peer_stage, what)
        start = time.perf_counter()
        try:
            super().wait(work, peer_stage, what)
        finally:
            self.clocks.waited += time.perf_counter() - start

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not training:
            return super().gradient(X, batch, training=False)
        # StageObjective.gradient's training pass, with the timed worker.
        self._timing = True
        try:
            worker = TimedWorker(self.stage, self.loss if self.last else None, self.clocks)
            G = X.new_empty(X.shape)
            xs, targets = microbatches(batch, self.method.microbatches)
            worker.start(X, G, targets)
            link = _P2PLink(self, X.shape[0], [x.shape[1] for x in xs], _ACT)
            first = xs if self.mesh.stage == 0 else None
            run_stage(worker, self.actions, first, link, last=self.last)
            losses = worker.losses if worker.losses is not None else X.new_zeros(X.shape[0])
            return G, self._from_last(losses.detach())
        finally:
            self._timing = False


class TimedDSPStage(DSPStageObjective):
    """DSP's stage objective with its worker's forwards and backwards timed (CPU seconds).

    The waits are the library's own ``waited_s``; the idle rounds its worker's ``counts``.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clocks = Clocks()
        forward, backward = self.worker.forward, self.worker.backward

        def timed_forward(*a: Any, **k: Any) -> Any:
            start = time.thread_time()
            out = forward(*a, **k)
            if out is not None:
                self.clocks.fwd += time.thread_time() - start
                self.clocks.n_fwd += 1
            return out

        def timed_backward(*a: Any, **k: Any) -> Any:
            start = time.thread_time()
            out = backward(*a, **k)
            if out is not None:
                self.clocks.bwd += time.thread_time() - start
                self.clocks.n_bwd += 1
            return out

        self.worker.forward = timed_forward
        self.worker.backward = timed_backward


def _broadcast_time(repeats: int) -> float:
    """Seconds of one broadcast of one number from the last stage (the losses'), median."""
    x = torch.zeros(1)
    samples = []
    for _ in range(repeats + 2):
        dist.barrier()
        start = time.perf_counter()
        dist.broadcast(x, src=STAGES - 1)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[2:])


# --------------------------------------------------------------------------- variants
def _pipeline(schedule: str, M: int) -> PipelineMethod:
    return PipelineMethod(schedule, M)


def _mesh_variants(o: dict[str, Any]) -> dict[str, tuple[Any, int]]:
    """Name -> (method, batch) of the mesh's variants in table 1."""
    b = o["micro"]
    out: dict[str, tuple[Any, int]] = {}
    for M in o["microbatches"]:
        for schedule in SCHEDULES:
            out[f"{schedule} {M}"] = (_pipeline(schedule, M), M * b)
    out["dsp"] = (DSPMethod(), b)
    out["dsp rt"] = (DSPMethod(recompute=True), b)
    return out


def _problem(o: dict[str, Any]) -> Any:
    from consensus.setup import make_problem

    return make_problem("digits", o["model"], agents=1, seed=0)


def _objectives(o: dict[str, Any], mesh: Any, rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Table 1's stage objectives (this rank's stage) and, on rank 0, the one-process ones."""
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.objective import LocalObjective
    from consensus.setup import local_shards

    problem = _problem(o)
    shards = local_shards(problem, np.arange(1), dtype=torch.float32, device="cpu")
    meshed = {}
    for name, (method, batch) in _mesh_variants(o).items():
        plan = layer_parallel(problem.module, STAGES, method)
        assert plan is not None
        staged = LayerParallel(plan.split, plan.method, mesh, timeout=120)
        meshed[name] = staged.objective(
            problem.module, problem.loss, shards, batch_size=batch, seed=0,
            dtype=torch.float32, device="cpu",
        )  # fmt: skip
    one = {}
    if rank == 0:
        for B in sorted({o["micro"] * M for M in [1, *o["microbatches"]]}):
            one[f"serial {B}"] = LocalObjective(
                problem.module, problem.loss, shards, batch_size=B, seed=0
            )
    return meshed, one


def _parameters(o: dict[str, Any]) -> torch.Tensor:
    from consensus.setup import initial_parameters

    problem = _problem(o)
    return initial_parameters(problem, np.arange(1), init="same", seed=0, dtype=torch.float32)


def _calls(o: dict[str, Any], batch: int) -> int:
    """Gradients per timing sample: ``--inner`` micro-batches' worth of samples (at least one)."""
    return max(1, o["inner"] * o["micro"] // batch)


def _throughput(o: dict[str, Any], mesh: Any, rank: int) -> dict[str, Any]:
    """Table 1 on this rank: per variant its wall seconds per gradient, CPU terms and waits."""
    meshed, one = _objectives(o, mesh, rank)
    X = _parameters(o)
    any_stage = next(iter(meshed.values()))
    Xs = X[:, any_stage.stage.cols].contiguous()
    rounds = dict.fromkeys([*meshed, *one], 0)  # the next round of each objective (its batches)
    # DSP: past the warm-up (every stage has a forward and a backward) before anything is timed.
    for name, objective in meshed.items():
        if name.startswith("dsp"):
            for _ in range(objective.lags.warmup + 1):
                objective.gradient(Xs, objective.batch(rounds[name]))
                rounds[name] += 1
    samples: dict[str, list[dict[str, float]]] = {}

    def timed(name: str, objective: Any, P: torch.Tensor) -> dict[str, float]:
        calls = _calls(o, objective.batch_size)
        batches = [objective.batch(rounds[name] + i) for i in range(calls)]
        rounds[name] += calls
        clocks = getattr(objective, "clocks", None)
        if clocks is not None:
            clocks.reset()
        waited0 = getattr(objective, "waited_s", 0.0)
        idle0 = objective.worker.counts.idle if hasattr(objective, "worker") else 0
        start, cpu, pcpu = time.perf_counter(), time.thread_time(), time.process_time()
        for batch in batches:
            objective.gradient(P, batch)
        wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
        pcpu = time.process_time() - pcpu
        row = {"wall": wall / calls, "cpu": cpu / calls, "samples": objective.batch_size}
        row["threads"] = (pcpu - cpu) / calls  # the process's other threads: gloo's transport
        if clocks is not None:
            waited = clocks.waited + getattr(objective, "waited_s", 0.0) - waited0
            row.update(
                fwd=clocks.fwd / max(clocks.n_fwd, 1), bwd=clocks.bwd / max(clocks.n_bwd, 1),
                fwd_total=clocks.fwd / calls, bwd_total=clocks.bwd / calls, waited=waited / calls,
                idle_steps=(objective.worker.counts.idle - idle0) if hasattr(objective, "worker") else 0,
            )  # fmt: skip
        return row

    for _ in range(1 + o["repeats"]):  # the first sample warms up
        dist.barrier()
        sample: dict[str, dict[str, float]] = {}
        for name, objective in one.items():
            sample[name] = timed(name, objective, X)
        dist.barrier()
        for name, objective in meshed.items():
            dist.barrier()
            sample[name] = timed(name, objective, Xs)
        for k, v in sample.items():
            samples.setdefault(k, []).append(v)
    state = (1, o["micro"], *any_stage.shapes[1])  # one micro-batch's boundary activation
    latency = _ping_pong(rank, torch.randn(state), o["latency_repeats"])
    return {
        "samples": {k: v[1:] for k, v in samples.items()},
        "latency": latency,
        "broadcast": _broadcast_time(o["latency_repeats"]),
        "message_bytes": int(np.prod(state)) * 4,
        "stage_params": any_stage.stage.dim,
        "lags": meshed["dsp"].lags,
        "dsp_counts": {
            k: vars(obj.worker.counts).copy() for k, obj in meshed.items() if k.startswith("dsp")
        },
    }


# --------------------------------------------------------------------------- training (table 3)
def _engine(o: dict[str, Any], method: Any, batch: int, lr: float, mesh: Any = None) -> Any:
    """An engine of one agent: this stage of ``mesh`` with ``method``, or the whole model (mesh None)."""
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.mixers.inprocess import InProcessMixer
    from consensus.regularizers import Regularizer

    problem = _problem(o)  # its own: a mesh engine moves the template model to the meta device
    schedule = topologies.get("ring", 1, seed=0)
    plan = None
    if mesh is not None:
        split = layer_parallel(problem.module, STAGES, method)
        assert split is not None
        plan = LayerParallel(split.split, split.method, mesh, timeout=120)
        mixer: Any = DistributedMixer(
            schedule, contiguous_blocks(1, 1), group=mesh.agent_group, timeout=120
        )
    else:
        mixer = InProcessMixer(schedule)
    return build_engine(
        schedule, make("dsgd", lr=lr, momentum=o["momentum"]), problem, agent_ids=np.arange(1),
        mixer=mixer, batch_size=batch, reg=Regularizer(), global_every=None, seed=0,
        dtype=torch.float32, device="cpu", init="same", layer_parallel=plan,
    )  # fmt: skip


def _training(o: dict[str, Any], mesh: Any, rank: int) -> dict[str, Any]:
    """Table 3 on this rank: per run and turn, training seconds, samples and test accuracy."""
    from consensus.engine import NonFiniteError

    M, b, turns = o["train_m"], o["micro"], o["chunks"]
    per_turn = o["rounds"] // turns  # pipeline rounds per turn
    lr = o["lr"]
    dsp_lr = o["dsp_lr"] if o["dsp_lr"] is not None else lr / M
    runs = {
        f"gpipe {M}": (_engine(o, _pipeline("gpipe", M), M * b, lr, mesh), per_turn),
        f"1f1b {M}": (_engine(o, _pipeline("1f1b", M), M * b, lr, mesh), per_turn),
        "dsp": (_engine(o, DSPMethod(), b, dsp_lr, mesh), M * per_turn),
    }
    one = {"serial": (_engine(o, None, M * b, lr), per_turn)} if rank == 0 else {}
    history: dict[str, list[dict[str, float]]] = {k: [] for k in [*one, *runs]}
    seconds = dict.fromkeys(history, 0.0)
    waited = dict.fromkeys(history, 0.0)
    alive = dict.fromkeys(history, True)

    def turn(name: str, engine: Any, rounds: int) -> None:
        if not alive[name]:
            return
        clocks = getattr(engine.objective, "clocks", None)
        if clocks is not None:
            clocks.reset()
        waited0 = getattr(engine.objective, "waited_s", 0.0)
        start = time.perf_counter()
        for _ in range(rounds):
            engine.step()
        seconds[name] += time.perf_counter() - start
        waited[name] += getattr(engine.objective, "waited_s", 0.0) - waited0
        if clocks is not None:
            waited[name] += clocks.waited
        try:
            engine.check_finite()
            m = engine.metrics()
        except NonFiniteError:
            alive[name] = False
            return
        m["train_seconds"] = seconds[name]
        m["waited"] = waited[name]
        history[name].append(m)

    for _ in range(turns):
        dist.barrier()
        for name, (engine, rounds) in one.items():
            turn(name, engine, rounds)
        dist.barrier()
        for name, (engine, rounds) in runs.items():
            dist.barrier()
            turn(name, engine, rounds)
    return {"history": history, "dsp_lr": dsp_lr, "alive": alive}


def _worker(rank: int, world: int, rendezvous: str, out: str, o: dict[str, Any]) -> None:
    """Ranks 0 and 1: the 2 stages of one agent; rank 0 also runs the one-process variants."""
    _join(rank, world, rendezvous)
    from consensus.layerparallel import plan as plan_module
    from consensus.layerparallel.mesh import build_mesh

    # The stage processes build the timed subclasses where the library builds its stage objectives.
    plan_module.OBJECTIVES["pipeline"] = (plan_module.OBJECTIVES["pipeline"][0], TimedPipeStage)
    plan_module.OBJECTIVES["dsp"] = (plan_module.OBJECTIVES["dsp"][0], TimedDSPStage)
    mesh = build_mesh(world, rank, STAGES, torch.device("cpu"))
    result = {"throughput": _throughput(o, mesh, rank)}
    if o["rounds"] > 0:
        result["training"] = _training(o, mesh, rank)
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.barrier()  # both ranks done with every message before the group goes
    dist.destroy_process_group()


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Terms:
    """Per micro-batch: each stage's forward, backward and recomputation; latency, broadcast, rest."""

    f: tuple[float, ...]
    b: tuple[float, ...]
    r: tuple[float, ...]  # recomputation inside the backward (DSP with recompute=true), per stage
    lam: float
    g: float
    h: float

    def pipeline(self, M: int) -> float:
        """``T_pipe``: a gradient of M micro-batches (the docstring's first form)."""
        S = len(self.f)
        work = [f + b for f, b in zip(self.f, self.b, strict=True)]
        return sum(work) + (M - 1) * max(work) + 2 * (S - 1) * self.lam + self.h + self.g

    def dsp(self) -> float:
        """``T_dsp``: one round in the steady state."""
        work = [f + b + r for f, b, r in zip(self.f, self.b, self.r, strict=True)]
        return max(work) + self.lam + self.h + self.g

    def scaled(self, S: int, recompute: bool) -> Terms:
        """The same whole-model work in S stages of equal cost (the docstring's second form)."""
        F, B = sum(self.f), sum(self.b)
        r = tuple(F / S if recompute and s < S - 1 else 0.0 for s in range(S))
        return Terms((F / S,) * S, (B / S,) * S, r, self.lam, self.g, self.h)


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _stage_terms(ranks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Per stage (medians over the samples): forward, backward, waits, CPU; and the wall (slower rank)."""
    rows = [r["throughput"]["samples"][name] for r in ranks]
    walls = [max(rs[i]["wall"] for rs in rows) for i in range(len(rows[0]))]
    out: dict[str, Any] = {"wall": statistics.median(walls), "samples": rows[0][0]["samples"]}
    for key in ("fwd", "bwd", "fwd_total", "bwd_total", "waited", "cpu", "threads", "idle_steps"):
        out[key] = [_median(rs, key) for rs in rows]
    # h: a stage's CPU seconds per gradient beyond its forwards and backwards
    out["rest"] = [c - f - b for c, f, b in zip(out["cpu"], out["fwd_total"], out["bwd_total"], strict=True)]  # fmt: skip
    return out


def _terms(ranks: list[dict[str, Any]], name: str, recomputed: str | None = None) -> Terms:
    """The model's terms from the stages of ``name`` (with ``recomputed``'s extra backward as r)."""
    t = _stage_terms(ranks, name)
    lam = max(r["throughput"]["latency"][0] for r in ranks)
    g = max(r["throughput"]["broadcast"] for r in ranks)
    r = (0.0,) * STAGES
    if recomputed is not None:  # the recomputation: what the backward of a stale stage adds
        rt, stale = _stage_terms(ranks, recomputed), ranks[0]["throughput"]["lags"].staleness
        r = tuple(
            max(x - y, 0.0) if k > 0 else 0.0
            for x, y, k in zip(rt["bwd"], t["bwd"], stale, strict=True)
        )
    return Terms(tuple(t["fwd"]), tuple(t["bwd"]), r, lam, g, max(t["rest"]))


# --------------------------------------------------------------------------- tables
def _ms(t: float) -> str:
    return f"{t * 1e3:.2f}"


def _pair(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    return "/".join(f"{v * scale:{fmt}}" for v in values)


def table_throughput(ranks: list[dict[str, Any]], o: dict[str, Any]) -> dict[str, Any]:
    tp0 = ranks[0]["throughput"]
    b = o["micro"]
    one = {k: statistics.median(r["wall"] for r in v) for k, v in tp0["samples"].items() if k.startswith("serial")}  # fmt: skip
    base = b / one[f"serial {b}"]
    lags = tp0["lags"]
    print(
        f"\n1. Throughput of the gradient oracle (fixed parameters): one agent, {o['model']} on "
        f"digits (stages of {ranks[0]['throughput']['stage_params']:,} and "
        f"{ranks[1]['throughput']['stage_params']:,} parameters), micro-batch b = {b}, float32; "
        f"DSP staleness {'-'.join(map(str, lags.staleness))}, past its warm-up; median of "
        f"{o['repeats']} samples of {o['inner']} micro-batches' worth (mesh: the slower rank)"
    )
    header = (
        f"{'variant':<10} {'batch':>5} {'ms/grad':>8} {'samples/s':>10} {'vs serial b':>11} "
        f"{'idle s0/s1':>11} {'model':>6} {'fwd ms s0/s1':>13} {'bwd ms s0/s1':>13} {'idle steps':>10}"
    )
    print(header)
    print("-" * len(header))
    for k, t in one.items():
        B = int(k.split()[1])
        print(f"{k:<10} {B:>5} {_ms(t):>8} {B / t:>10.0f} {B / t / base:>10.2f}x")
    stages = {k: _stage_terms(ranks, k) for k in tp0["samples"] if not k.startswith("serial")}
    for k, t in stages.items():
        rate = t["samples"] / t["wall"]
        idle = [w / t["wall"] for w in t["waited"]]
        if k.startswith("dsp"):
            model, steps = "0", f"{sum(t['idle_steps']):g}"
        else:
            M = t["samples"] // b
            model, steps = f"{idle_fraction(STAGES, M):.2f}", ""
        print(
            f"{k:<10} {t['samples']:>5} {_ms(t['wall']):>8} {rate:>10.0f} {rate / base:>10.2f}x "
            f"{_pair(idle):>11} {model:>6} {_pair(t['fwd'], 1e3):>13} {_pair(t['bwd'], 1e3):>13} "
            f"{steps:>10}"
        )
    counts = tp0["dsp_counts"]
    print(
        "DSP counts on stage 0 after all its rounds (forwards/backwards/idle): "
        + "; ".join(f"{k} {c['forwards']}/{c['backwards']}/{c['idle']}" for k, c in counts.items())
        + f" (the warm-up's idle rounds on stage 0: b_0 = {lags.backward[0]})"
    )
    print(
        "Where a gradient's time goes, ms per stage 0/1: main thread's CPU (of it forwards and "
        "backwards), waits, the process's other threads' CPU (gloo's transport), wall (slower rank)"
    )
    for k in (f"1f1b {o['train_m']}", f"gpipe {o['train_m']}", "dsp", "dsp rt"):
        t = stages[k]
        work = [f + w for f, w in zip(t["fwd_total"], t["bwd_total"], strict=True)]
        print(
            f"  {k:<8} cpu {_pair(t['cpu'], 1e3)} ({_pair(work, 1e3)}), waits "
            f"{_pair(t['waited'], 1e3)}, other threads {_pair(t['threads'], 1e3)}, wall "
            f"{_ms(t['wall'])}"
        )
    crowded = [
        k
        for k, t in stages.items()
        if t["wall"] > 1.15 * max(c + w for c, w in zip(t["cpu"], t["waited"], strict=True)) + 5e-4
    ]
    if crowded:
        print(
            f"NOTE: wall time exceeds CPU + waits by more than 15% in {', '.join(crowded)}: the "
            "stage processes did not have a core each (other work on the machine)."
        )
    return {"one": one, "stages": stages, "base": base}


def table_model(ranks: list[dict[str, Any]], measured: dict[str, Any], o: dict[str, Any]) -> None:
    b, Ms, Ss = o["micro"], o["microbatches"], o["model_stages"]
    tp = ranks[0]["throughput"]
    lam, fastest = tp["latency"]
    terms = {
        f"pipe {M}": _terms(ranks, f"1f1b {M}") for M in Ms
    }  # the pipeline's own costs at this M (1F1B's; GPipe's are the same work)
    dsp, dsp_rt = _terms(ranks, "dsp"), _terms(ranks, "dsp", recomputed="dsp rt")
    print(
        f"\n2. Model (the docstring's formulas). Measured at S = 2, per micro-batch of {b} (CPU ms, "
        f"stage 0/1): DSP forward {_pair(list(dsp.f), 1e3)}, backward {_pair(list(dsp.b), 1e3)}, "
        f"recomputation (rt backward - rf backward) {_pair(list(dsp_rt.r), 1e3)}; pipeline M = "
        f"{Ms[-1]} forward {_pair(list(terms[f'pipe {Ms[-1]}'].f), 1e3)}, backward "
        f"{_pair(list(terms[f'pipe {Ms[-1]}'].b), 1e3)}; message lam {_ms(lam)} ms for "
        f"{_kb(tp['message_bytes'])} (fastest {_ms(fastest)}), broadcast g {_ms(dsp.g)} ms, rest h "
        f"{_ms(dsp.h)} ms per DSP round, "
        + ", ".join(f"{_ms(terms[f'pipe {M}'].h)}" for M in Ms)
        + f" ms per pipeline gradient (M = {', '.join(map(str, Ms))})"
    )
    print("Check at S = 2 (the measured stage costs, first form): model / measured wall time")
    checks = [(f"gpipe {M}", terms[f"pipe {M}"].pipeline(M)) for M in Ms]
    checks += [(f"1f1b {M}", terms[f"pipe {M}"].pipeline(M)) for M in Ms]
    checks += [("dsp", dsp.dsp()), ("dsp rt", dsp_rt.dsp())]
    print("  " + ", ".join(f"{k} {t / measured['stages'][k]['wall']:.2f}" for k, t in checks))
    # w: what the measured gradient (round) at S = 2 took beyond the model (1F1B for the pipeline)
    wall = {k: t["wall"] for k, t in measured["stages"].items()}
    w = {f"pipe {M}": max(wall[f"1f1b {M}"] - terms[f"pipe {M}"].pipeline(M), 0.0) for M in Ms}
    w["dsp"] = max(wall["dsp"] - dsp.dsp(), 0.0)
    w["dsp rt"] = max(wall["dsp rt"] - dsp_rt.dsp(), 0.0)
    models = {f"pipe {M}": (terms[f"pipe {M}"], M, False) for M in Ms}
    models.update({"dsp": (dsp, 1, False), "dsp rt": (dsp_rt, 1, True)})

    def rate(name: str, S: int, calibrated: bool) -> float:
        """Modelled samples/s of ``name`` on S equal stages (plus w if calibrated)."""
        t, M, rc = models[name]
        scaled = t.scaled(S, rc)
        T = scaled.pipeline(M) if name.startswith("pipe") else scaled.dsp()
        return M * b / (T + (w[name] if calibrated else 0.0))

    serial_b = measured["one"][f"serial {b}"]
    print(
        f"\nModelled samples/s for S stages of equal cost (the same model cut into S) and, in "
        f"brackets, over one process at batch {b} ({b / serial_b:.0f} samples/s measured). model: "
        "the second form; calibrated: plus w, the rest of the measured gradient (DSP: round) at "
        "S = 2 beyond the model (1F1B's for the pipeline), the same at every S"
    )
    header = (
        f"{'variant':<12} {'w ms':>5} "
        + " ".join(f"{'model S=' + str(S):>15} {'calibr. S=' + str(S):>15}" for S in Ss)
        + f" {'bubble S=' + ','.join(map(str, Ss)):>16}"
    )
    print(header)
    print("-" * len(header))
    for name in models:
        cells = []
        for S in Ss:
            for calibrated in (False, True):
                r = rate(name, S, calibrated)
                cells.append(f"{r:>6.0f} ({r * serial_b / b:>4.2f}x)")
        M = models[name][1]
        bubble = (
            ",".join(f"{idle_fraction(S, M):.2f}" for S in Ss) if name.startswith("pipe") else "0"
        )
        label = name.replace("pipe", "pipeline")
        print(
            f"{label:<12} {w[name] * 1e3:>5.2f} "
            + " ".join(f"{c:>15}" for c in cells)
            + f" {bubble:>16}"
        )
    print(
        "\nDSP's samples/s over the pipeline's: measured at S = 2 (over 1F1B / GPipe, table 1), "
        "modelled (in brackets the bound (M+S-1)/M: no latency, no recomputation) and calibrated"
    )
    header = (
        f"{'':<16} {'measured S=2':>12} "
        + " ".join(f"{'model S=' + str(S):>15}" for S in Ss)
        + " "
        + " ".join(f"{'calibr. S=' + str(S):>11}" for S in Ss)
    )
    print(header)
    print("-" * len(header))
    seen = {k: t["samples"] / t["wall"] for k, t in measured["stages"].items()}
    for name in ("dsp", "dsp rt"):
        for M in Ms:
            ideal = [
                f"{rate(name, S, False) / rate(f'pipe {M}', S, False):>5.2f}x ({(M + S - 1) / M:.2f})"
                for S in Ss
            ]
            calibr = [f"{rate(name, S, True) / rate(f'pipe {M}', S, True):.2f}x" for S in Ss]
            pair = f"{seen[name] / seen[f'1f1b {M}']:.2f}/{seen[name] / seen[f'gpipe {M}']:.2f}x"
            print(
                f"{name + ' / pipe ' + str(M):<16} {pair:>12} "
                + " ".join(f"{c:>15}" for c in ideal)
                + " "
                + " ".join(f"{c:>11}" for c in calibr)
            )
    print(
        "GPipe and 1F1B share the model (the same critical path; 1F1B keeps at most S - s micro-batches' "
        "activations on stage s, GPipe M). The pipeline's terms are its own measured costs at each M. "
        "The model is optimistic for 1F1B with balanced stages: each backward waits for the gradient "
        "of a micro-batch forwarded S - 1 actions before, so up to 2 lam per micro-batch of its "
        "steady state are on the critical path."
    )


def table_training(ranks: list[dict[str, Any]], o: dict[str, Any]) -> None:
    M, b = o["train_m"], o["micro"]
    tr = [r["training"] for r in ranks]
    names = list(tr[0]["history"])
    print(
        f"\n3. Accuracy against training wall time: dsgd momentum {o['momentum']}; pipelines and "
        f"serial batch {M * b}, lr {o['lr']}, {o['rounds']} rounds; dsp batch {b}, lr "
        f"{tr[0]['dsp_lr']:g}, {M * o['rounds']} rounds (the same samples); evaluated every "
        f"{o['rounds'] // o['chunks'] * M * b} samples (not timed). Per run: training seconds "
        "(the slower rank) and test accuracy"
    )

    def seconds(name: str, i: int) -> float:
        return max(t["history"][name][i]["train_seconds"] for t in tr if name in t["history"])

    header = f"{'samples':>8} " + " ".join(f"{n + ' s':>10} {'acc':>6}" for n in names)
    print(header)
    print("-" * len(header))
    turns = max(len(tr[0]["history"][n]) for n in names)
    for i in range(turns):
        cells = []
        for n in names:
            h = tr[0]["history"][n]
            if i < len(h):
                cells.append(f"{seconds(n, i):>10.2f} {h[i]['test_accuracy']:>6.3f}")
            else:
                cells.append(f"{'div.':>10} {'':>6}")
        samples = (i + 1) * (o["rounds"] // o["chunks"]) * M * b
        print(f"{samples:>8} " + " ".join(cells))
    print(
        "Per run over the whole training: samples/s, each stage's waits / training time, DSP's counters"
    )
    for n in names:
        h = tr[0]["history"][n]
        if not h:
            print(f"  {n}: diverged before the first evaluation")
            continue
        secs = seconds(n, len(h) - 1)
        samples = len(h) * (o["rounds"] // o["chunks"]) * M * b
        waits = [t["history"][n][len(h) - 1]["waited"] / secs for t in tr if n in t["history"]]
        line = f"  {n:<9} {samples / secs:>7.0f} samples/s"
        if n != "serial":
            line += f", waits s0/s1 {_pair(waits)}"
        last = h[-1]
        if "stage_idle_steps" in last:
            line += (
                f"; stage_forwards {last['stage_forwards']:g}, stage_backwards "
                f"{last['stage_backwards']:g}, stage_idle_steps {last['stage_idle_steps']:g} (both "
                f"stages, {last['round']:g} rounds)"
            )
        if "stage_bytes_per_agent" in last:
            line += f"; {_kb(last['stage_bytes_per_agent'])} between the stages"
        print(line)
    print(
        "The pipelines' gradient is serial training's (the same trajectory up to float32 rounding); "
        "DSP's stages step on gradients 2 rounds (stage 0) and 0 rounds (stage 1) stale, M times as "
        "often, each step lr / M."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (< 60 s)")
    parser.add_argument("--model", default="resnet:channels=16,depth=4")
    parser.add_argument("--micro", type=int, default=32, help="micro-batch size b (DSP's batch)")
    parser.add_argument("--microbatches", default="1,2,4,8", help="the pipeline's M in table 1")
    parser.add_argument(
        "--inner", type=int, default=8, help="micro-batches' worth per timing sample"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timing samples (default 15)")
    parser.add_argument("--stages", default="2,4,8", help="S of the model")
    parser.add_argument(
        "--train-microbatches", type=int, default=4, help="the pipelines' M in table 3"
    )
    parser.add_argument("--rounds", type=int, default=None, help="pipeline rounds in table 3 (default 400; 0: none)")  # fmt: skip
    parser.add_argument(
        "--chunks", type=int, default=None, help="evaluations in table 3 (default 8)"
    )
    parser.add_argument("--lr", type=float, default=0.1, help="the pipelines' dsgd step")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--dsp-lr", type=float, default=None, help="DSP's step (default lr / M)")
    args = parser.parse_args()
    o: dict[str, Any] = dict(
        model=args.model, micro=args.micro,
        microbatches=sorted({int(m) for m in args.microbatches.split(",")}),
        inner=args.inner, repeats=args.repeats or (2 if args.quick else 15),
        model_stages=[int(s) for s in args.stages.split(",")],
        train_m=args.train_microbatches,
        rounds=400 if args.rounds is None else args.rounds, chunks=args.chunks or 8,
        lr=args.lr, momentum=args.momentum, dsp_lr=args.dsp_lr,
        latency_repeats=20 if args.quick else 100,
    )  # fmt: skip
    if args.quick:
        o.update(
            model="resnet:channels=8,depth=2", micro=min(args.micro, 32), microbatches=[1, 4],
            inner=4, rounds=min(o["rounds"], 16), chunks=min(o["chunks"], 2),
        )  # fmt: skip
    if o["train_m"] not in o["microbatches"]:
        o["microbatches"] = sorted({*o["microbatches"], o["train_m"]})
    if o["rounds"] and o["rounds"] % o["chunks"]:
        parser.error("--rounds must be a multiple of --chunks")
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, one thread per process, {os.cpu_count()} cores; load average at "
        f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ranks = _spawn(_worker, STAGES, Path(tmp), "dsp", o)
    measured = table_throughput(ranks, o)
    table_model(ranks, measured, o)
    if o["rounds"]:
        table_training(ranks, o)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
