"""The serial-parallel hybrid (``sph``): 2 stage processes against serial training in one process.

Measured in one run (every process one thread, gloo over a ``file://``
rendezvous in a temporary folder: no port, no ``torchrun``; the helpers of
``benchmarks/pipeline.py``). One agent of ``--model`` (default
``resnet:channels=16,depth=4``: stem and two residual blocks in stage 0, two
blocks and the head in stage 1, equal parameter counts) on digits, batch
``--batch``:

* **serial**: one process, the whole model, plain training (``stages=1``), dsgd
  (lr 0.1, momentum 0.9): the run a user would otherwise make;
* **sim ds=1**: one process running the hybrid with every stage in turn
  (:class:`~consensus.layerparallel.sph_objective.SPHObjective`): its arithmetic
  without parallelism (information);
* **mesh ds=F**: the agent as 2 stage processes
  (:class:`~consensus.layerparallel.sph_mesh.SPHStageObjective`),
  ``sph:serial_every=K,inner_steps=I,downsample=F`` (K and I by default the
  library's, 1 and 2; ``beta=0.1``; the state step does not change the time), F = 1
  and 2, dsgd as above;
* **steady ds=F**: the same processes with ``serial_every=0`` after warm-up
  rounds that have set every sample's states, so that the rounds are the
  hybrid's steady parallel rounds (dsgd with lr 0.01 and no momentum here, which
  stays finite without serial rounds; a round's cost does not depend on the numbers).

A parallel round is **chained** when some sample of its batch has stale states
(its first use since the phase began): its forward pass then runs stage after
stage, each sending the next its fresh states, before the stages step at once;
otherwise it is **fresh** and every stage works at once. An **epoch** is a fixed
number of rounds, ``--cycles`` cycles of ``K + 1`` rounds (K parallel, then one
serial round; by default about 20 rounds). Timed: ``Engine.step()`` round by round (the gradient and dsgd's
update, no evaluation), the slower process per round; the one-process variants
on rank 0 between the mesh's epochs (rank 1 waits in a barrier), so load on
the machine hits them alike. Median of ``--repeats`` epochs after one warm-up
epoch.

Per stage and kind of round the **busy fraction** is 1 - (seconds in the
stage's waits for the other stage: receives, send flushes, the broadcast of the
losses) / (seconds of the round); **cpu** is the stage's CPU seconds (its main
thread), which leave out time the machine gave to other work; **fwd** the CPU
seconds of the round's first forward pass (the one a chained round runs stage
after stage; later inner steps run at once). The benchmark times these in a subclass of the
stage objective (the library is not touched; the numerics are the library's).
**Bytes between stages** are ``objective.stage_bytes``, what the two processes
sent each other.

**Speedup model** per epoch: terms measured on S = 2, extrapolated to S stages
(table 2 prints the formulas and assumptions), and for other ``serial_every``
(table 3), with the expected number of chained rounds per phase.

Run: ``python benchmarks/sph.py`` (about 20 s on an idle 2-core machine, under a
minute loaded; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark's helpers
from pipeline import _join, _kb, _spawn  # noqa: E402

from consensus.layerparallel.sph import SPHMethod  # noqa: E402
from consensus.layerparallel.sph_mesh import SPHStageObjective  # noqa: E402
from consensus.objective import Batch  # noqa: E402

STAGES = 2
KINDS = ("chained", "fresh", "serial")


class TimedStage(SPHStageObjective):
    """The mesh's stage objective, timing its waits for the other stage and its forward passes.

    Also notes the kind of each round (chained, fresh or serial) before running it.
    """

    waited = 0.0  # wall seconds waiting
    forward_cpu = 0.0  # CPU seconds in the first forward pass of each parallel round
    kind = "serial"
    first = False  # the next forward pass is the round's first (the one a chained round chains)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        forward = self.worker.forward

        def timed_forward(*a: Any, **k: Any) -> Any:
            if not self.first:
                return forward(*a, **k)
            self.first = False
            cpu = time.thread_time()
            out = forward(*a, **k)
            self.forward_cpu += time.thread_time() - cpu
            return out

        self.worker.forward = timed_forward  # type: ignore[method-assign]

    def wait(self, work: Any, peer_stage: int | None, what: str) -> None:
        start = time.perf_counter()
        super().wait(work, peer_stage, what)
        self.waited += time.perf_counter() - start

    def gradient(
        self, X: torch.Tensor, batch: Batch, *, training: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if training:
            t, self.first = self.round, True
            if self.sph.phase(t) == "serial":
                self.kind = "serial"
            else:  # the library's test, asked before the round (the same on every stage)
                stale = self.sph.resets(t) or not self.states_ready
                stale = stale or self.worker.stale(batch.rows)  # type: ignore[arg-type]
                self.kind = "chained" if stale else "fresh"
        return super().gradient(X, batch, training=training)


def _method(o: dict[str, Any], downsample: int, serial_every: int | None = None) -> SPHMethod:
    K = o["serial_every"] if serial_every is None else serial_every
    return SPHMethod(
        serial_every=K, serial_rounds=1, downsample=downsample, inner_steps=o["inner_steps"]
    )


def _engine(
    o: dict[str, Any],
    stages: int,
    method: SPHMethod | None,
    mesh: Any = None,
    algorithm: dict[str, float] | None = None,
) -> Any:
    """An engine of one agent: whole model (stages 1), the stages in turn, or this stage of ``mesh``."""
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.mixers.inprocess import InProcessMixer
    from consensus.regularizers import Regularizer
    from consensus.setup import make_problem

    problem = make_problem("digits", o["model"], agents=1, seed=0)
    schedule = topologies.get("ring", 1, seed=0)
    plan = None if method is None else layer_parallel(problem.module, stages, method)
    if mesh is not None:
        assert plan is not None
        plan = LayerParallel(plan.split, plan.method, mesh, timeout=120)
        mixer: Any = DistributedMixer(
            schedule, contiguous_blocks(1, 1), group=mesh.agent_group, timeout=120
        )
    else:
        mixer = InProcessMixer(schedule)
    options = algorithm or {"lr": 0.1, "momentum": 0.9}
    return build_engine(
        schedule, make("dsgd", **options), problem, agent_ids=np.arange(1), mixer=mixer,
        batch_size=o["batch"], reg=Regularizer(), global_every=None, seed=0, dtype=torch.float32,
        device="cpu", init="same", layer_parallel=plan,
    )  # fmt: skip


def _epoch(engine: Any, rounds: int) -> list[dict[str, Any]]:
    """Run ``rounds`` rounds; per round its kind, seconds, waits, CPU seconds and bytes sent."""
    objective = engine.objective
    rows = []
    for _ in range(rounds):
        waited0, fwd0 = getattr(objective, "waited", 0.0), getattr(objective, "forward_cpu", 0.0)
        bytes0 = objective.stage_bytes
        start, cpu = time.perf_counter(), time.thread_time()
        engine.step()
        rows.append(
            {
                "kind": getattr(objective, "kind", "serial"),
                "seconds": time.perf_counter() - start,
                "cpu": time.thread_time() - cpu,
                "waited": getattr(objective, "waited", 0.0) - waited0,
                "fwd": getattr(objective, "forward_cpu", 0.0) - fwd0,
                "bytes": objective.stage_bytes - bytes0,
            }
        )
    return rows


def _worker(rank: int, world: int, rendezvous: str, out: str, o: dict[str, Any]) -> None:
    """Ranks 0 and 1: the stages of one agent; rank 0 also times the one-process variants."""
    _join(rank, world, rendezvous)
    from consensus.layerparallel import plan as plan_module
    from consensus.layerparallel.mesh import build_mesh
    from consensus.layerparallel.sph_objective import SPHObjective

    # The stage processes build TimedStage where the library builds SPHStageObjective.
    plan_module.OBJECTIVES["sph"] = (SPHObjective, TimedStage)
    mesh = build_mesh(world, rank, STAGES, torch.device("cpu"))
    engines = {f"mesh ds={f}": _engine(o, STAGES, _method(o, f), mesh) for f in o["downsample"]}
    steady = {"lr": 0.01, "momentum": 0.0}
    for f in o["downsample"]:
        engine = _engine(o, STAGES, _method(o, f, serial_every=0), mesh, steady)
        _epoch(engine, o["steady_warmup"])  # every sample's states set: fresh rounds from here
        engines[f"steady ds={f}"] = engine
    one: dict[str, Any] = {}
    if rank == 0:
        one["serial"] = _engine(o, 1, None)
        one["sim ds=1"] = _engine(o, STAGES, _method(o, 1))
    epochs: dict[str, list[list[dict[str, Any]]]] = {}
    for _ in range(1 + o["repeats"]):  # the first epoch warms up
        dist.barrier()
        for name, engine in one.items():
            epochs.setdefault(name, []).append(_epoch(engine, o["rounds"]))
        dist.barrier()
        for name, engine in engines.items():
            dist.barrier()
            epochs.setdefault(name, []).append(_epoch(engine, o["rounds"]))
    first = next(iter(engines.values()))
    result = {
        "epochs": {k: v[1:] for k, v in epochs.items()},
        "stage_params": first.X.shape[1],
        "shard": first.objective.shards.X.shape[1],
    }
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


# --------------------------------------------------------------------------- tables
def _kind_mean(epochs: list[list[dict[str, Any]]], kind: str, key: str) -> float:
    """Mean of ``key`` over the rounds of ``kind`` (all epochs together); nan if there are none."""
    values = [r[key] for e in epochs for r in e if r["kind"] == kind]
    return float(np.mean(values)) if values else math.nan


def _summary(ranks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Per-epoch and per-kind terms of a mesh variant (wall: the slower rank per round)."""
    per_rank = [r["epochs"][name] for r in ranks]
    walls = [
        [
            {"kind": rs[0]["kind"], "seconds": max(r["seconds"] for r in rs)}
            for rs in zip(*(p[e] for p in per_rank), strict=True)
        ]
        for e in range(len(per_rank[0]))
    ]
    count = {k: sum(r["kind"] == k for e in walls for r in e) / len(walls) for k in KINDS}
    per_kind = {
        key: [{k: _kind_mean(p, k, key) for k in KINDS} for p in per_rank]
        for key in ("seconds", "waited", "cpu", "fwd", "bytes")
    }
    return {
        "epoch": statistics.median(sum(r["seconds"] for r in e) for e in walls),
        "count": count,  # rounds of each kind per epoch (mean over epochs)
        "wall": {k: _kind_mean(walls, k, "seconds") for k in KINDS},
        "busy": [
            {k: s[k] - w[k] for k in KINDS}
            for s, w in zip(per_kind["seconds"], per_kind["waited"], strict=True)
        ],
        "cpu": per_kind["cpu"],
        "fwd": per_kind["fwd"],
        "bytes": {k: sum(b[k] for b in per_kind["bytes"]) for k in KINDS},
        "bytes_epoch": statistics.median(
            sum(r["bytes"] for p in per_rank for r in p[e]) for e in range(len(per_rank[0]))
        ),
    }


def _pair(values: list[float], scale: float = 1.0, fmt: str = ".2f") -> str:
    return "/".join("-" if math.isnan(v) else f"{v * scale:{fmt}}" for v in values)


def table_epochs(ranks: list[dict[str, Any]], o: dict[str, Any]) -> dict[str, Any]:
    one = {
        k: statistics.median(sum(r["seconds"] for r in e) for e in v)
        for k, v in ranks[0]["epochs"].items()
        if k in ("serial", "sim ds=1")
    }
    mesh = {k: _summary(ranks, k) for k in ranks[0]["epochs"] if k not in one}
    base, R = one["serial"], o["rounds"]
    print(
        f"\n1. One epoch = {R} rounds, batch {o['batch']} of a shard of {ranks[0]['shard']} samples, "
        f"{o['model']} on digits (stages of {ranks[0]['stage_params']:,} and "
        f"{ranks[1]['stage_params']:,} parameters); mesh: {_method(o, 1).spec()} (and "
        f"downsample=2); steady: serial_every=0 after {o['steady_warmup']} warm-up "
        f"rounds; median of {o['repeats']} epochs"
    )
    header = (
        f"{'variant':<12} {'s/epoch':>8} {'speedup':>8} {'stage bytes':>12} "
        f"{'rounds ch/fr/ser':>17} {'busy chained':>13} {'busy fresh':>11} {'busy serial':>12}"
    )
    print(header)
    print("-" * len(header))
    for k, v in one.items():
        print(f"{k:<12} {v:>8.3f} {base / v:>7.2f}x {'-':>12}")
    for k, m in mesh.items():
        n = "/".join(f"{m['count'][kind]:g}" for kind in KINDS)
        busy = {
            kind: _pair([b[kind] / m["wall"][kind] for b in m["busy"]]) for kind in KINDS
        }  # fmt: skip
        print(
            f"{k:<12} {m['epoch']:>8.3f} {base / m['epoch']:>7.2f}x {_kb(m['bytes_epoch']):>12} "
            f"{n:>17} {busy['chained']:>13} {busy['fresh']:>11} {busy['serial']:>12}"
        )
    print(
        "speedup = serial epoch / the variant's; rounds = chained / fresh / serial rounds per epoch; "
        "busy = 1 - a stage's waits for the other / the round's wall time, stage 0 / stage 1."
    )
    print("\nPer round of each kind (the slower stage's wall time; per stage s0/s1):")
    header = (
        f"{'variant':<12} {'kind':<8} {'wall ms':>8} {'busy ms':>13} {'cpu ms':>13} "
        f"{'fwd cpu ms':>13} {'bytes':>11}"
    )
    print(header)
    print("-" * len(header))
    for k, m in mesh.items():
        for kind in KINDS:
            if m["count"][kind] == 0:
                continue
            print(
                f"{k:<12} {kind:<8} {m['wall'][kind] * 1e3:>8.2f} "
                f"{_pair([b[kind] for b in m['busy']], 1e3):>13} "
                f"{_pair([c[kind] for c in m['cpu']], 1e3):>13} "
                f"{_pair([f[kind] for f in m['fwd']], 1e3):>13} {_kb(m['bytes'][kind]):>11}"
            )
    print(
        f"serial: {base / R * 1e3:.2f} ms per round (whole model, one process). cpu: the stage's CPU "
        "seconds (main thread); busy well above cpu means the machine ran other work meanwhile."
    )
    return {"one": one, "mesh": mesh, "shard": ranks[0]["shard"]}


def chained_per_phase(K: float, M: int, B: int) -> float:
    """Expected chained rounds in a phase of ``K`` parallel rounds (batches of ``B`` of ``M`` rows).

    Round ``k`` of the phase is fresh when each of its ``B`` draws (with
    replacement) hit a row drawn in rounds ``0..k-1``: probability
    ``(1 - (1 - 1/M)^(k B))^B``, draws taken as independent. ``K = inf``: the
    chained rounds of one endless phase (a finite number, nothing per epoch).
    """
    q, total, k = 1.0 - 1.0 / M, 0.0, 0
    while k < K:
        p_chained = 1.0 - (1.0 - q ** (k * B)) ** B
        if p_chained < 1e-9:
            break
        total, k = total + p_chained, k + 1
    return total


class SpeedupModel:
    """Seconds per round of each kind on S stages, from the terms measured on S = 2.

    ``C``: both stages' CPU seconds per round (the work; ``fwd``: of the forward
    passes of chained rounds). ``w``: the rest of the measured round at S = 2,
    clamped at 0: for fresh rounds all of it (messages, waits, imbalance, time
    the machine gave to other work), independent of S; for chained rounds what
    they take beyond a fresh round's rest, per boundary (the forward's hop); for
    serial rounds per boundary.
    """

    def __init__(self, m: dict[str, Any], fresh: dict[str, Any]):
        cpu, fwd, wall = m["cpu"], m["fwd"], m["wall"]
        self.C = {
            "chained": cpu[0]["chained"] + cpu[1]["chained"],
            "fwd": fwd[0]["chained"] + fwd[1]["chained"],
            "fresh": fresh["cpu"][0]["fresh"] + fresh["cpu"][1]["fresh"],
            "serial": cpu[0]["serial"] + cpu[1]["serial"],
        }
        C = self.C
        w_fresh = max(fresh["wall"]["fresh"] - C["fresh"] / 2, 0.0)
        hop = wall["chained"] - C["fwd"] - (C["chained"] - C["fwd"]) / 2 - w_fresh
        self.w = {
            "fresh": w_fresh,
            "chained": max(hop, 0.0),
            "serial": max(wall["serial"] - C["serial"], 0.0),  # one micro-batch: in turn
        }

    def round(self, kind: str, S: int) -> float:
        """Seconds of one round of ``kind`` on ``S`` stages."""
        C, w = self.C, self.w
        if kind == "fresh":
            return C["fresh"] / S + w["fresh"]  # every stage at once
        if kind == "chained":  # the forward pass stage after stage, then every stage at once
            return C["fwd"] + (C["chained"] - C["fwd"]) / S + w["fresh"] + (S - 1) * w["chained"]
        return C["serial"] + (S - 1) * w["serial"]

    def epoch(self, S: int, rounds: int, K: float, M: int, B: int) -> float:
        """Seconds of ``rounds`` rounds with ``serial_every = K`` (``inf``: never serial)."""
        if math.isinf(K):
            return rounds * self.round("fresh", S)
        cycles = rounds / (K + 1)
        chained = min(chained_per_phase(K, M, B), K)
        return cycles * (
            chained * self.round("chained", S)
            + (K - chained) * self.round("fresh", S)
            + self.round("serial", S)
        )


def table_model(tables: dict[str, Any], o: dict[str, Any], stages: list[int]) -> None:
    T1, R, K, B, M = (
        tables["one"]["serial"], o["rounds"], o["serial_every"], o["batch"], tables["shard"]
    )  # fmt: skip
    print(
        f"\n2. Speedup model per epoch: terms measured at S = 2, extrapolated (T_1 = {T1:.3f} s, "
        f"the serial epoch; fresh rounds from the steady runs). Chained rounds per phase of K = {K}: "
        f"{chained_per_phase(K, M, B):.2f} expected, "
        f"{tables['mesh']['mesh ds=1']['count']['chained'] / (R / (K + 1)):.2f} measured"
    )
    header = f"{'variant':<11} {'term':<9} {'C ms':>7} {'w ms':>6} " + " ".join(
        f"{'S=' + str(S):>11}" for S in stages
    )
    print(header)
    print("-" * len(header))
    models = {}
    for f in o["downsample"]:
        k = f"mesh ds={f}"
        m = tables["mesh"][k]
        model = models[k] = SpeedupModel(m, tables["mesh"][f"steady ds={f}"])
        for kind in KINDS:
            cells = " ".join(f"{model.round(kind, S) * 1e3:>8.2f} ms" for S in stages)
            C = model.C[kind] * 1e3
            print(f"{k:<11} {kind:<9} {C:>7.2f} {model.w[kind] * 1e3:>6.2f} {cells}")
        print(f"{k:<11} {'(fwd)':<9} {model.C['fwd'] * 1e3:>7.2f}")
        T = {S: model.epoch(S, R, K, M, B) for S in stages}
        rows = {
            "T_S s": [f"{T[S]:>11.3f}" for S in stages],
            "speedup": [f"{T1 / T[S]:>10.2f}x" for S in stages],
            "all fresh": [f"{T1 / (R * model.round('fresh', S)):>10.2f}x" for S in stages],
        }
        for name, row in rows.items():
            print(f"{k:<11} {name:<9} {'':>7} {'':>6} " + " ".join(row))
        print(f"{k:<11} (the model at S = 2 / the measured epoch: {T[STAGES] / m['epoch']:.2f})")
    print(
        "Per round: fresh t(S) = C_fresh / S + w_fresh; chained t(S) = C_fwd + (C_chained - C_fwd) / S "
        "+ w_fresh + (S-1) w_chained (the forward pass stage after stage, then the stages at once); "
        "serial t(S) = C_serial + (S-1) w_serial (the exact pipeline, one micro-batch). C = both "
        "stages' CPU seconds per round (the work; fwd: of the forward passes); w = the rest of the "
        "measured round at S = 2 (waits for messages, transfers, imbalance, time the machine gave to "
        "other work; clamped at 0): w_fresh all of a fresh round's, w_chained what a chained round "
        "takes beyond it (per boundary), w_serial per boundary. Per epoch: R / (K + 1) cycles of n_ch(K) chained, K - n_ch fresh and "
        "1 serial round, n_ch the expected chained rounds per phase; speedup = T_1 / T_S; all fresh "
        "= T_1 / (R t_fresh): the parallel step alone.\n"
        "Assumptions: the same total work cut into S stages of equal cost (a model with at least S "
        "layers); one core per stage process; w_fresh independent of S (each stage talks to its "
        "neighbours only, all at once), w_chained and w_serial per boundary; the same number of "
        "rounds. The last is not true for reaching an accuracy: the hybrid learns more slowly per "
        "round than serial training (see the tutorial), so this is a speedup per epoch, not to a "
        "target accuracy."
    )
    Ks: list[float] = sorted({K, 4, 20, 100, 500})
    print(
        f"\n3. The model's speedup per epoch for other serial_every K (the same measured terms; "
        f"{R} rounds; one serial round per phase)"
    )
    header = f"{'variant':<11} {'K':>5} {'chained/K':>9} " + " ".join(
        f"{'S=' + str(S):>7}" for S in stages
    )
    print(header)
    print("-" * len(header))
    for k, model in models.items():
        for Kk in [*Ks, math.inf]:
            name = "never" if math.isinf(Kk) else str(Kk)
            share = 0.0 if math.isinf(Kk) else min(chained_per_phase(Kk, M, B), Kk) / Kk
            cells = " ".join(f"{T1 / model.epoch(S, R, Kk, M, B):>6.2f}x" for S in stages)
            print(f"{k:<11} {name:>5} {share:>9.2f} {cells}")
    print(
        "chained/K: the share of a phase's parallel rounds that run their forward pass stage after "
        f"stage (a sample's first use in the phase refreshes its states); with batches of {B} of "
        f"{M} samples a phase needs about {M / B * math.log(B / math.log(2)):.0f} rounds before "
        "half of its rounds are fresh. K = never: parallel rounds only (serial_every=0), which the "
        "tutorial shows not to train reliably."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--model", default="resnet:channels=16,depth=4")
    parser.add_argument("--batch", type=int, default=64, help="samples per round")
    defaults = SPHMethod()
    parser.add_argument(
        "--serial-every",
        type=int,
        default=defaults.serial_every,
        help="the hybrid's serial_every K",
    )
    parser.add_argument("--inner-steps", type=int, default=defaults.inner_steps)
    parser.add_argument(
        "--cycles",
        type=int,
        default=None,
        help="an epoch: this many K + 1 rounds (about 20 rounds)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs (default 5)")
    parser.add_argument("--stages", default="4,8,16", help="S of the extrapolation")
    args = parser.parse_args()
    if args.serial_every < 1:
        parser.error("--serial-every must be >= 1 (an epoch is a whole number of cycles)")
    import consensus

    shard = consensus.load_dataset("digits").X_train.shape[0]  # one agent holds every row
    o: dict[str, Any] = dict(
        model=args.model, batch=args.batch, serial_every=args.serial_every,
        inner_steps=args.inner_steps,
        rounds=(args.cycles or math.ceil(20 / (args.serial_every + 1))) * (args.serial_every + 1),
        repeats=args.repeats or (2 if args.quick else 5), downsample=[1, 2],
        # rounds after which a round's B draws all hit rows drawn before, with probability ~0.94
        steady_warmup=math.ceil(7 * shard / args.batch),
    )  # fmt: skip
    if args.quick:
        o.update(model="resnet:channels=8,depth=2", rounds=args.serial_every + 1)
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, one thread per process, {os.cpu_count()} cores; load average at "
        f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ranks = _spawn(_worker, STAGES, Path(tmp), "sph", o)
    tables = table_epochs(ranks, o)
    crowded = [
        k
        for k, m in tables["mesh"].items()
        for b, c in zip(m["busy"], m["cpu"], strict=True)
        for kind in KINDS
        if b[kind] > 1.15 * c[kind] + 5e-4  # nan compares False
    ]
    if crowded:
        print(
            f"NOTE: busy exceeds cpu by more than 15% in {', '.join(sorted(set(crowded)))}: the "
            "stage processes did not have a core each (other work on the machine); the waits w "
            "of the model below include that time."
        )
    table_model(tables, o, [STAGES, *(int(s) for s in args.stages.split(","))])
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
