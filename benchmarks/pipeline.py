"""Layer-parallel agents: a 2-stage pipeline on 2 processes against the same model in one process.

Three tables, measured in one run (all processes one thread each, gloo over a
``file://`` rendezvous in a temporary folder, so no port and no ``torchrun``):

1. **Throughput.** ``--agents`` agents (stacked) of ``MLP(64, 10, hidden=(h, h, h))``
   on digits, split by :func:`consensus.layerparallel.split_model` into 2 stages of
   about equal parameter count (so about equal cost), batch ``--batch`` per agent.
   One gradient (forward and backward of the whole batch) by:

   * ``plain``: :class:`~consensus.objective.LocalObjective` in one process;
   * ``sim M``: :class:`~consensus.layerparallel.PipelineObjective`, the one-process
     simulator of the pipeline with M micro-batches (1F1B);
   * ``mesh M``: the 2 stage processes of one agent block
     (:class:`~consensus.layerparallel.mesh.StageObjective`), M micro-batches, 1F1B.

   Samples per second for M = 1, 2, 4, 8 (the same total batch), speedup against
   the faster one-process variant (plain or sim 1), and each stage's measured idle
   fraction (seconds waiting for a neighbour's message, in ``irecv`` waits and the
   final flush of sends, over the gradient's time) beside the bubble of the model,
   ``(S - 1) / (M + S - 1)``. Goal (issue 9): at least 1.5x at M = 8 on an idle
   2-core machine. The one-process variants are timed on rank 0 between the mesh's
   timings (rank 1 waits in a barrier), so load on the machine hits them alike.
   The waits are timed by a subclass of the mesh's link, here in the benchmark.

2. **Memory per stage process**: the parameters and the state of
   ``gradient_tracking`` (bytes of ``engine.X`` and ``engine.state``, each storage
   once) of each process of a 2 x 2 mesh (2 agent blocks x 2 stages) against a
   stage-less process hosting the same agents (should be about 1/S), and the
   largest activations: the peak bytes of activations a stage keeps alive for its
   backward (its inputs, outputs and autograd's saved tensors, parameters
   excluded) and the largest message between the stages, from table 1's run.

3. **Gossip per process**: ``DistributedMixer.bytes_sent`` (the model's count:
   fan-out x row width) and ``wire_bytes`` (what went on the wire) per round on
   every process of the 2 x 2 mesh, against a 2-process run without stages
   (the same agents, topology and algorithm): each stage should send its share of
   the stage-less agent's bytes.

Run: ``python benchmarks/pipeline.py`` (about 2.5 minutes on 2 cores; ``--quick``
for a smoke run).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

torch.set_num_threads(1)

from consensus.layerparallel import PipelineMethod, idle_fraction, split_model  # noqa: E402
from consensus.layerparallel.mesh import _GRAD, StageObjective, _P2PLink  # noqa: E402
from consensus.layerparallel.objective import microbatches  # noqa: E402
from consensus.layerparallel.pipeline import StageWorker, run_stage  # noqa: E402
from consensus.objective import Batch  # noqa: E402

STAGES = 2
GOSSIP_AGENTS = 4  # tables 2 and 3: 2 agents per block


# --------------------------------------------------------------------------- instrumentation
class TimedLink(_P2PLink):
    """The mesh's link, timing every wait for a neighbour (receives and the final flush)."""

    waited = 0.0
    largest = 0  # bytes of the largest message received

    def _recv(self, peer_stage: int, shape: tuple[int, ...], tag: int) -> torch.Tensor:
        start = time.perf_counter()
        buf = super()._recv(peer_stage, shape, tag)
        TimedLink.waited += time.perf_counter() - start
        TimedLink.largest = max(TimedLink.largest, buf.numel() * buf.element_size())
        return buf

    def flush(self) -> None:
        start = time.perf_counter()
        super().flush()
        TimedLink.waited += time.perf_counter() - start


class TracedWorker(StageWorker):
    """A stage worker that tracks the bytes of activations it keeps alive for its backward."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.live: dict[int, int] = {}
        self.peak = 0

    def forward(self, m: int, h: torch.Tensor) -> torch.Tensor:
        params = {v.untyped_storage().data_ptr() for v in self.params.values()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            if t.untyped_storage().data_ptr() not in params:  # the parameters are no activation
                seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = super().forward(m, h)
        if m in self.saved:
            for t in self.saved[m]:
                if t is not None:
                    seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            self.live[m] = sum(seen.values())
            self.peak = max(self.peak, sum(self.live.values()))
        return out

    def backward(self, m: int, grad_out: torch.Tensor | None = None) -> torch.Tensor | None:
        self.live.pop(m, None)
        return super().backward(m, grad_out)


class BenchStage(StageObjective):
    """StageObjective.gradient with the timed link and the traced worker (same actions, same values)."""

    peak = 0  # bytes: the largest activations kept alive by this objective's passes

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        worker = TracedWorker(self.stage, self.loss if self.last else None)
        G = X.new_empty(X.shape)
        xs, targets = microbatches(batch, self.method.microbatches)
        worker.start(X, G, targets)
        link = TimedLink(self, X.shape[0], [x.shape[1] for x in xs], 0)
        run_stage(worker, self.actions, xs if self.mesh.stage == 0 else None, link, last=self.last)
        self.peak = max(self.peak, worker.peak)
        losses = worker.losses if worker.losses is not None else X.new_zeros(X.shape[0])
        return G, self._from_last(losses.detach())


assert _GRAD == 1  # the link's tags: our kind 0 (activations) must not collide with gradients


# --------------------------------------------------------------------------- processes
def _join(rank: int, world: int, rendezvous: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )


def _spawn(fn: Any, world: int, tmp: Path, name: str, options: dict[str, Any]) -> list[Any]:
    out = tmp / name
    out.mkdir()
    rendezvous = tmp / f"rdzv_{name}"
    mp.spawn(fn, args=(world, str(rendezvous), str(out), options), nprocs=world, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]


def _problem(o: dict[str, Any]) -> tuple[Any, Any, Any]:
    import consensus
    from consensus.models import MLP
    from consensus.setup import local_shards, make_problem

    torch.manual_seed(0)
    data = consensus.load_dataset("digits")
    h = o["hidden"]
    module = MLP(data.num_features, data.output_dim, hidden=(h, h, h))
    problem = make_problem(data, module, agents=o["agents"], seed=0)
    return module, problem, (local_shards, data)


def _throughput_worker(rank: int, world: int, rendezvous: str, out: str, o: dict[str, Any]) -> None:
    """Rank 0 and 1 are the stages of one agent block; rank 0 also times the one-process variants."""
    _join(rank, world, rendezvous)
    from consensus.layerparallel import PipelineObjective
    from consensus.layerparallel.mesh import build_mesh
    from consensus.objective import LocalObjective

    mesh = build_mesh(world, rank, STAGES, torch.device("cpu"))
    module, problem, (local_shards, _) = _problem(o)
    n = o["agents"]
    shards = local_shards(problem, np.arange(n), dtype=torch.float32, device="cpu")
    split = split_model(module, STAGES)
    X = split.layout.flatten(module).unsqueeze(0).repeat(n, 1).contiguous()
    common = dict(batch_size=o["batch"], seed=0)
    Ms = o["microbatches"]
    mesh_obj = {
        M: BenchStage(
            module,
            problem.loss,
            shards,
            split=split,
            method=PipelineMethod("1f1b", M),
            mesh=mesh,
            dtype=torch.float32,
            device=torch.device("cpu"),
            timeout=120,
            **common,
        )
        for M in Ms
    }
    batch = mesh_obj[Ms[0]].batch(0)
    cols = split.stages[mesh.stage].cols
    Xs = X[:, cols].contiguous()
    one: dict[str, Any] = {}
    if rank == 0:
        one["plain"] = LocalObjective(module, problem.loss, shards, **common)
        for M in Ms:
            sim = PipelineObjective(
                module,
                problem.loss,
                shards,
                split=split,
                method=PipelineMethod("1f1b", M),
                **common,
            )
            sim.workers = [TracedWorker(w.stage, w.loss) for w in sim.workers]
            one[f"sim {M}"] = sim
    inner = o["inner"]
    times: dict[str, list[float]] = {}
    waits: dict[int, list[float]] = {M: [] for M in Ms}

    def run_mesh(M: int) -> float:
        dist.barrier()
        TimedLink.waited = 0.0
        start = time.perf_counter()
        for _ in range(inner):
            mesh_obj[M].gradient(Xs, batch)
        sec = (time.perf_counter() - start) / inner
        waits[M].append(TimedLink.waited / inner / sec)
        return sec

    for r in range(o["warmup"] + o["repeats"]):
        dist.barrier()
        sample = {}
        if rank == 0:
            for name, obj in one.items():
                start = time.perf_counter()
                for _ in range(inner):
                    obj.gradient(X, batch)
                sample[name] = (time.perf_counter() - start) / inner
        dist.barrier()
        for M in Ms:
            sample[f"mesh {M}"] = run_mesh(M)
        if r >= o["warmup"]:
            for k, v in sample.items():
                times.setdefault(k, []).append(v)
    # Same gradient check: this stage's columns of the mesh's gradient vs the plain gradient;
    # and the largest message between the stages, per M.
    largest = {}
    for M in Ms:
        TimedLink.largest = 0
        G_mesh, _ = mesh_obj[M].gradient(Xs, batch)
        largest[M] = TimedLink.largest
    result: dict[str, Any] = {
        "times": times,
        "idle": {M: statistics.median(v[o["warmup"] :]) for M, v in waits.items()},
        "G": G_mesh,
        "cols": (cols.start, cols.stop),
        "peak_activation": {M: obj.peak for M, obj in mesh_obj.items()},
        "largest_message": largest,
        "stage_params": split.stages[mesh.stage].dim,
        "d": split.layout.dim,
    }
    if rank == 0:
        result["G_plain"] = one["plain"].gradient(X, batch)[0]
        result["sim_peak"] = {
            k: [w.peak for w in obj.workers] for k, obj in one.items() if k.startswith("sim")
        }
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _storage_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the storages behind ``tensors``, each storage counted once."""
    seen: dict[int, int] = {}
    for t in tensors:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _gossip_worker(rank: int, world: int, rendezvous: str, out: str, o: dict[str, Any]) -> None:
    """A few rounds of gradient tracking; ``o["stages"]`` 2 (a mesh) or 1 (whole-model agents)."""
    _join(rank, world, rendezvous)
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.layerparallel.mesh import build_mesh
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.regularizers import Regularizer

    S = o["stages"]
    module, problem, _ = _problem(o)
    n = o["agents"]
    schedule = topologies.get("ring", n, seed=0)
    extra: dict[str, Any] = {}
    if S > 1:
        mesh = build_mesh(world, rank, S, torch.device("cpu"))
        plan = layer_parallel(module, S, PipelineMethod("1f1b", 2))
        assert plan is not None
        extra["layer_parallel"] = LayerParallel(plan.split, plan.method, mesh, timeout=120)
        block, blocks_count, group = mesh.block, mesh.blocks, mesh.agent_group
    else:
        block, blocks_count, group = rank, world, None
    blocks = contiguous_blocks(n, blocks_count)
    mixer = DistributedMixer(schedule, blocks, group=group, dtype=torch.float32, timeout=120)
    engine = build_engine(
        schedule, make("gradient_tracking", lr=0.01), problem, agent_ids=blocks[block], mixer=mixer,
        batch_size=o["batch"], reg=Regularizer(), global_every=None, seed=0, dtype=torch.float32,
        device="cpu", init="same", **extra,
    )  # fmt: skip
    engine.step()  # the first round may set up plans: count from the second
    sent0, wire0 = mixer.bytes_sent, mixer.wire_bytes
    for _ in range(o["rounds"]):
        engine.step()
    state = [v for v in engine.state.values() if torch.is_tensor(v)]
    result = {
        "rank": rank,
        "rows": engine.X.shape[0],
        "cols": engine.X.shape[1],
        "params": engine.X.numel() * engine.X.element_size(),
        "state": sum(v.numel() * v.element_size() for v in state),
        "resident": _storage_bytes([engine.X, *state]),
        "sent": (mixer.bytes_sent - sent0) / o["rounds"],
        "wire": (mixer.wire_bytes - wire0) / o["rounds"],
    }
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


# --------------------------------------------------------------------------- tables
def _kb(b: float) -> str:
    return f"{b / 1024:,.1f} KiB" if b < 1024**2 else f"{b / 1024**2:,.2f} MiB"


def table_throughput(rows: list[dict[str, Any]], o: dict[str, Any]) -> bool:
    samples = o["agents"] * o["batch"]
    times = {
        k: [max(r["times"][k][i] for r in rows if k in r["times"]) for i in range(o["repeats"])]
        for k in rows[0]["times"]
    }  # fmt: skip  (slowest rank per repeat)
    med = {k: statistics.median(v) for k, v in times.items()}
    base_name = min(("plain", f"sim {o['microbatches'][0]}"), key=lambda k: med[k])
    base = med[base_name]
    d = rows[0]["d"]
    print(
        f"\n1. Throughput: {o['agents']} agent(s) x batch {o['batch']}, MLP 64-{o['hidden']}x3-10 "
        f"(d = {d:,}; stages of {rows[0]['stage_params']:,} and {rows[1]['stage_params']:,} parameters), "
        f"1F1B; median of {o['repeats']} repeats of {o['inner']} gradients"
    )
    header = (
        f"{'variant':<10} {'ms/grad':>8} {'samples/s':>10} {'speedup':>8} "
        f"{'idle s0':>8} {'idle s1':>8} {'model':>6} {'bound':>6} {'goal':>6} {'result':>6}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for k in ("plain", *(f"sim {M}" for M in o["microbatches"])):
        print(f"{k:<10} {med[k] * 1e3:>8.1f} {samples / med[k]:>10.0f} {base / med[k]:>7.2f}x")
    for M in o["microbatches"]:
        k = f"mesh {M}"
        speedup = base / med[k]
        # A perfect pipeline: the simulator's work at this M shared by S cores, plus the bubble.
        bound = base / (med[f"sim {M}"] / STAGES / (1 - idle_fraction(STAGES, M)))
        goal, verdict = ("", "")
        if M == 8:
            goal, verdict = ">= 1.5", "PASS" if speedup >= 1.5 else "FAIL"
            failed = verdict == "FAIL"
        print(
            f"{k:<10} {med[k] * 1e3:>8.1f} {samples / med[k]:>10.0f} {speedup:>7.2f}x "
            f"{rows[0]['idle'][M]:>8.2f} {rows[1]['idle'][M]:>8.2f} {idle_fraction(STAGES, M):>6.2f} "
            f"{bound:>5.2f}x "
            f"{goal:>6} {verdict:>6}"
        )
    G = torch.cat([r["G"] for r in rows], dim=1)
    diff = float((G - rows[0]["G_plain"]).abs().max())
    print(
        f"speedup = the faster one-process variant ({base_name}) / variant; idle = time waiting for the "
        f"other stage / time of the gradient, per stage; model = (S-1)/(M+S-1); bound = the speedup of a "
        f"perfect pipeline, the simulator's time at this M / S, plus the model's bubble. "
        f"check: mesh vs plain gradient, max |dG| = {diff:.1e}"
    )
    return failed


def table_memory(
    tp: list[dict[str, Any]],
    mesh: list[dict[str, Any]],
    flat: list[dict[str, Any]],
    o: dict[str, Any],
) -> None:
    print(
        f"\n2. Memory per process: {GOSSIP_AGENTS} agents on a ring, gradient_tracking, "
        f"2 agent blocks x 2 stages vs 2 stage-less processes"
    )
    header = f"{'process':<26} {'rows x cols':>12} {'params':>12} {'state':>12} {'storages':>12} {'share':>6}"
    print(header)
    print("-" * len(header))
    whole = flat[0]["resident"]
    for r in flat:
        print(
            f"{'stage-less rank ' + str(r['rank']):<26} {r['rows']:>5} x {r['cols']:<6}"
            f"{_kb(r['params']):>12} {_kb(r['state']):>12} {_kb(r['resident']):>12} {1:>6.2f}"
        )
    for r in mesh:
        both = r["resident"]
        name = f"block {r['rank'] // STAGES} stage {r['rank'] % STAGES} (rank {r['rank']})"
        print(
            f"{name:<26} {r['rows']:>5} x {r['cols']:<6}"
            f"{_kb(r['params']):>12} {_kb(r['state']):>12} {_kb(both):>12} {both / whole:>6.2f}"
        )
    print(
        f"params, state = bytes of engine.X and engine.state; storages = the bytes of their storages, each "
        f"once (the state may share a buffer with X); share = storages / the stage-less process's "
        f"(goal about 1/S = {1 / STAGES:.2f})."
    )
    print(
        f"Activations (table 1's {o['agents']} agent(s) x batch {o['batch']}, 1F1B): the peak bytes a "
        "stage keeps for its backward, and the largest message between the stages"
    )
    for M in o["microbatches"]:
        print(
            f"  M = {M}: "
            + ", ".join(f"stage {s} {_kb(r['peak_activation'][M])}" for s, r in enumerate(tp))
            + f"; message {_kb(max(r['largest_message'][M] for r in tp))}"
        )
    sim = tp[0]["sim_peak"][f"sim {o['microbatches'][0]}"]
    print("  one process (sim M = 1), stages summed: " + " + ".join(_kb(p) for p in sim))


def table_gossip(mesh: list[dict[str, Any]], flat: list[dict[str, Any]]) -> None:
    print("\n3. Gossip bytes per round per process (after a first round)")
    header = f"{'process':<26} {'bytes_sent':>12} {'wire_bytes':>12} {'share':>6}"
    print(header)
    print("-" * len(header))
    whole = flat[0]["wire"]
    for r in flat:
        print(
            f"{'stage-less rank ' + str(r['rank']):<26} {r['sent']:>12,.0f} {r['wire']:>12,.0f} {1:>6.2f}"
        )
    for r in mesh:
        name = f"block {r['rank'] // STAGES} stage {r['rank'] % STAGES} (rank {r['rank']})"
        print(f"{name:<26} {r['sent']:>12,.0f} {r['wire']:>12,.0f} {r['wire'] / whole:>6.2f}")
    per_block = [sum(r["wire"] for r in mesh if r["rank"] // STAGES == b) for b in range(len(flat))]
    print(
        "share = wire bytes / the stage-less process's; the stages of a block together send "
        + ", ".join(f"{w / f['wire']:.3f}x" for w, f in zip(per_block, flat, strict=True))
        + " of the stage-less process's bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument(
        "--agents", type=int, default=1, help="agents stacked in the throughput table"
    )
    # Defaults: compute-bound stages (a micro-batch of 512 rows keeps the GEMMs efficient), the
    # setting in which a pipeline pays; --hidden 512 --batch 512 shows the small-model side.
    parser.add_argument("--batch", type=int, default=4096, help="samples per agent per gradient")
    parser.add_argument(
        "--hidden", type=int, default=1024, help="width h of MLP(64, 10, (h, h, h))"
    )
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--gossip-rounds", type=int, default=5)
    args = parser.parse_args()
    o: dict[str, Any] = dict(
        agents=args.agents, batch=args.batch, hidden=args.hidden, microbatches=[1, 2, 4, 8],
        warmup=1 if args.quick else 2, repeats=args.repeats or (2 if args.quick else 3),
        inner=1 if args.quick else 3,
    )  # fmt: skip
    if args.quick:
        o.update(hidden=min(args.hidden, 128), batch=min(args.batch, 64))
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, one thread per process, {os.cpu_count()} cores; load average at "
        f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (the goal is for an idle machine)"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tp = _spawn(_throughput_worker, STAGES, Path(tmp), "throughput", o)
        failed = table_throughput(tp, o)
        g = dict(agents=GOSSIP_AGENTS, batch=16, hidden=o["hidden"], rounds=args.gossip_rounds)
        mesh = _spawn(_gossip_worker, 2 * STAGES, Path(tmp), "mesh", {**g, "stages": STAGES})
        flat = _spawn(_gossip_worker, 2, Path(tmp), "flat", {**g, "stages": 1})
        table_memory(tp, mesh, flat, o)
        table_gossip(mesh, flat)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
    )
    if failed:
        print("throughput goal FAILED (at M = 8)")


if __name__ == "__main__":
    main()
