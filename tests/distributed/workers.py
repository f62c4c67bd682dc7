"""Worker functions for multi-process tests (importable by spawned processes)."""

from __future__ import annotations

import datetime
import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


def init(rank: int, world: int, rendezvous: str) -> None:
    """Join a gloo group through a file:// rendezvous (no ports)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )


def train_block(rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]) -> None:
    """Run the engine on this rank's block with the DistributedMixer; save its final rows."""
    init(rank, world, rendezvous)
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.regularizers import Regularizer
    from consensus.setup import make_problem, resolve_dtype

    o = dict(options)
    n, dtype = o["agents"], resolve_dtype(o["dtype"])
    schedule = topologies.get(o["topology"], n, seed=o["seed"])
    problem = make_problem(o["dataset"], o["model"], agents=n, seed=o["seed"])
    blocks = contiguous_blocks(n, world)
    mixer = DistributedMixer(schedule, blocks, dtype=dtype, timeout=60)
    engine = build_engine(
        schedule, make(o["algorithm"], **o.get("algorithm_options", {})), problem, agent_ids=blocks[rank], mixer=mixer,
        batch_size=o["batch_size"], reg=Regularizer.parse(o.get("reg")), global_every=o.get("global_every"),
        seed=o["seed"], dtype=dtype, device="cpu", init="same",
    )  # fmt: skip
    history = engine.run(o["rounds"], eval_every=o["rounds"])
    torch.save({"X": engine.X, "metrics": history[-1]}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def long_exchange(
    rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]
) -> None:
    """Thousands of rounds of time-varying gossip on small buffers; save the final rows."""
    init(rank, world, rendezvous)
    import topologies
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks

    n = options["agents"]
    schedule = topologies.get(options["topology"], n, seed=3)
    blocks = contiguous_blocks(n, world)
    mixer = DistributedMixer(schedule, blocks, dtype=torch.float64, timeout=30)
    gen = np.random.default_rng(0)
    x = torch.as_tensor(gen.normal(size=(n, 3)))[blocks[rank]]
    y = torch.as_tensor(gen.normal(size=(n, 2)))[blocks[rank]]
    for t in range(options["rounds"]):
        x, y = mixer.mix(t, x, y)
    torch.save({"x": x, "y": y}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def dies_early(rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]) -> None:
    """Rank 1 exits after 5 rounds; rank 0 must stop with ExchangeTimeout, not hang."""
    init(rank, world, rendezvous)
    import time

    import topologies
    from consensus.mixers.distributed import DistributedMixer, ExchangeTimeout, contiguous_blocks

    schedule = topologies.get("ring", 4)
    mixer = DistributedMixer(schedule, contiguous_blocks(4, world), dtype=torch.float64, timeout=5)
    x = torch.zeros(2, 3, dtype=torch.float64)
    start = time.monotonic()
    try:
        for t in range(1000):
            if rank == 1 and t == 5:
                os._exit(0)
            (x,) = mixer.mix(t, x)
    except ExchangeTimeout as err:
        with open(os.path.join(out, "error.txt"), "w") as fh:
            fh.write(f"{time.monotonic() - start:.1f} {err}")
        os._exit(0)


def train_mesh(rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]) -> None:
    """One stage process of a ``(world / stages) x stages`` mesh, for each case in ``options["cases"]``.

    Saves per case its columns, final metrics, the gathered average model and the
    shapes of everything it allocated per agent.
    """
    init(rank, world, rendezvous)
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.layerparallel import LayerParallel, layer_parallel
    from consensus.layerparallel.mesh import build_mesh, gather_columns
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.models import MLP
    from consensus.regularizers import Regularizer
    from consensus.setup import make_problem, resolve_dtype

    S = options["stages"]
    mesh = build_mesh(world, rank, S, torch.device("cpu"))
    saved = []
    for o in options["cases"]:
        n, dtype = o["agents"], resolve_dtype(o["dtype"])
        schedule = topologies.get(o["topology"], n, seed=o["seed"])
        problem = make_problem(
            o["dataset"],
            o.get("model") or MLP(13, 3, hidden=(16, 16, 16)),
            agents=n,
            seed=o["seed"],
        )
        plan = layer_parallel(problem.module, S, o["method"])
        assert plan is not None
        plan = LayerParallel(plan.split, plan.method, mesh, timeout=60)
        blocks = contiguous_blocks(n, mesh.blocks)
        mixer = DistributedMixer(schedule, blocks, group=mesh.agent_group, dtype=dtype, timeout=60)
        engine = build_engine(
            schedule, make(o["algorithm"], **o.get("algorithm_options", {})), problem,
            agent_ids=blocks[mesh.block], mixer=mixer, batch_size=o["batch_size"],
            reg=Regularizer.parse(o.get("reg")), global_every=o.get("global_every"), seed=o["seed"], dtype=dtype,
            device="cpu", init="same", layer_parallel=plan, augment=o.get("augment"),
        )  # fmt: skip
        history = engine.run(o["rounds"], eval_every=o["rounds"])
        average = gather_columns(engine.objective, engine.average())  # type: ignore[arg-type]
        objective = engine.objective
        # no whole model stays behind: the template and the eval copy are on the meta device
        held = [p for m in (problem.module, objective.eval_model) for p in m.parameters()]  # type: ignore[attr-defined]
        assert all(p.is_meta for p in held)
        assert "eval_forward_fn" not in vars(objective)  # LocalObjective's eval copy never built
        sizes = {"X": tuple(engine.X.shape)}
        sizes.update({k: tuple(v.shape) for k, v in engine.state.items() if v.dim() == 2})
        saved.append(
            {"X": engine.X, "metrics": history[-1], "average": average, "sizes": sizes, "block": mesh.block,
             "stage": mesh.stage, "cols": (plan.columns.start, plan.columns.stop), "rows": torch.as_tensor(blocks[mesh.block])}
        )  # fmt: skip
    torch.save({"cases": saved}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def pipeline_gradients(
    rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]
) -> None:
    """One agent block of ``world`` stages: the pipeline gradient of each model, schedule and micro-batch count."""
    init(rank, world, rendezvous)
    import consensus
    from consensus.layerparallel import LayerParallel, PipelineMethod, split_model
    from consensus.layerparallel.mesh import build_mesh
    from consensus.setup import local_shards, make_problem
    from tests.layerparallel.reference import models, random_rows

    mesh = build_mesh(world, rank, world, torch.device("cpu"))
    data = consensus.load_dataset("digits")
    saved = {}
    for name, module in models(data.num_features, data.output_dim, data.image_shape).items():
        problem = make_problem(data, module, agents=3, seed=1)
        shards = local_shards(problem, np.arange(3), dtype=torch.float64, device="cpu")
        if world > len(split_model(module, 1).stages[0].layers):
            continue
        split = split_model(module, world)
        X = random_rows(3, split.layout.dim)
        for schedule in ("gpipe", "1f1b"):
            for M in (1, 2, 4):
                plan = LayerParallel(split, PipelineMethod(schedule, M), mesh, timeout=60)
                objective = plan.objective(
                    module,
                    problem.loss,
                    shards,
                    batch_size=8,
                    seed=2,
                    dtype=torch.float64,
                    device="cpu",
                )
                G, losses = objective.gradient(X[:, plan.columns], objective.batch(5))
                sent = objective.stage_bytes  # type: ignore[attr-defined]
                saved[(name, schedule, M)] = (
                    G,
                    losses,
                    (plan.columns.start, plan.columns.stop),
                    sent,
                )
    torch.save(saved, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def pipeline_soak(
    rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]
) -> None:
    """Thousands of pipelined gradients on one agent block, schedule and micro-batches varying by round.

    Plain SGD on the gradients, so every round's messages carry new values; saves the final columns.
    """
    init(rank, world, rendezvous)
    from tests.layerparallel.soak import soak_run

    X = soak_run(options["rounds"], world=world, rank=rank)
    torch.save({"X": X}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def stage_dies(rank: int, world: int, rendezvous: str, out: str, options: dict[str, Any]) -> None:
    """Stage 1 exits at round 5; stage 0 must stop with ExchangeTimeout naming stage, peer and round."""
    init(rank, world, rendezvous)
    import time

    from consensus.mixers.distributed import ExchangeTimeout
    from tests.layerparallel.soak import soak_run

    start = time.monotonic()
    if rank == 1:
        soak_run(5, world=world, rank=rank)
        os._exit(0)
    try:
        soak_run(1000, world=world, rank=rank, timeout=5)
    except ExchangeTimeout as err:
        with open(os.path.join(out, "error.txt"), "w") as fh:
            fh.write(f"{time.monotonic() - start:.1f} {err}")
    os._exit(0)
