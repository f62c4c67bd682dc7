"""A whole run from a :class:`RunConfig`: one process (simulator) or one of many (torchrun)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

import topologies
from topologies import TopologyError

from ..algorithms import make
from ..api import build_engine, check_topology
from ..data.augment import resolve_augment
from ..engine import Engine
from ..errors import ConfigError
from ..models import ParamLayout
from ..regularizers import Regularizer
from ..setup import make_problem, resolve_dtype
from . import agree, checkpoint, results
from .config import RunConfig
from .directory import _RESUMABLE as _RESUMABLE  # the docs read it here
from .directory import check_directory
from .interrupt import Interrupted, StopRequest
from .launch import Launch, detect, device_for, init_group
from .placement import check_layer_parallel, place


def _fault_hook(launch: Launch, t: int) -> None:
    """Test hook: ``CONCORD_FAULT=ROUND:RANK`` kills that rank once when it reaches ROUND."""
    spec = os.environ.get("CONCORD_FAULT")
    if not spec or launch.restarted:
        return
    at, rank = (int(v) for v in spec.split(":"))
    if t == at and launch.rank == rank:
        os.kill(os.getpid(), 9)


def validate(config: RunConfig, launch: Launch) -> dict[str, Any]:
    """Every check that needs no communication; raises ConfigError before anything is written."""
    out, resume, finished = check_directory(config, launch.world, launch.restarted)
    if finished is not None:
        return {"out": out, "resume": resume, "finished": finished}
    device = device_for(config.device, launch)
    dtype = resolve_dtype(config.dtype)
    whole_models = config.stages == 1 and not config.split_points  # else: checked per agent block
    if whole_models and launch.world > config.agents:
        raise ConfigError(
            f"{launch.world} processes but only {config.agents} agents; use --agents >= {launch.world}"
        )
    algorithm = make(config.algorithm, **_options_for(config))
    problem = make_problem(
        config.data or config.dataset,
        config.model,
        agents=config.agents,
        partition_scheme=config.partition,
        loss=config.loss,
        seed=config.seed,
        standardize=config.standardize,
        test_fraction=config.test_fraction,
    )
    try:
        schedule = topologies.get(config.topology, config.agents, seed=config.seed)
    except TopologyError as err:
        raise ConfigError(str(err)) from None
    check_topology(schedule, algorithm)
    reg = Regularizer.parse(config.reg)
    plan = check_layer_parallel(config, problem.module, launch.world)
    if plan is not None:
        plan.method.check(plan.split, tuple(problem.data.X_train.shape[1:]))
    augmentation = resolve_augment(config.augment)
    if augmentation is not None:  # refuses data that are not images
        augmentation.bind(problem.data.image_shape, seed=config.seed, agent_ids=np.arange(1))
    return {
        "layer_parallel": plan,
        "device": device,
        "dtype": dtype,
        "algorithm": algorithm,
        "problem": problem,
        "schedule": schedule,
        "reg": reg,
        "out": out,
        "resume": resume,
        "finished": None,
    }


def _options_for(config: RunConfig) -> dict[str, Any]:
    from dataclasses import fields as dc_fields

    from ..algorithms import ALGORITHMS

    if config.algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {config.algorithm!r}; known: {', '.join(ALGORITHMS)}")
    accepted = {f.name for f in dc_fields(ALGORITHMS[config.algorithm])}
    options = config.algorithm_options()
    for name in options:
        if name not in accepted:
            raise ConfigError(
                f"--{name.replace('_', '-')} does not apply to {config.algorithm}; it takes {', '.join(sorted(accepted))}"
            )
    return options


def _agree_on_resume_round(root: Path, launch: Launch, device: torch.device) -> int | None:
    """The newest round whose checkpoint verifies on every rank (agreed with all-reduces, no pickles)."""
    candidates = checkpoint.rounds_on_disk(root)
    if dist.is_initialized():
        count = torch.tensor([len(candidates)], device=device)
        dist.broadcast(count, 0)
        listing = torch.tensor(
            candidates if launch.rank == 0 else [0] * int(count), dtype=torch.int64, device=device
        )
        if int(count):
            dist.broadcast(listing, 0)
        candidates = listing.tolist()
    for t in candidates:
        ok = torch.tensor([1 if checkpoint.is_valid(root, t, launch.rank) else 0], device=device)
        if dist.is_initialized():
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        if int(ok):
            return int(t)
    return None


def _check_same_config(config: RunConfig, device: torch.device) -> None:
    """Every rank must run the same configuration (seed, topology, ...): compare a hash across ranks."""
    if not dist.is_initialized():
        return
    text = json.dumps(config.to_dict(), sort_keys=True).encode()
    digest = int(hashlib.sha256(text).hexdigest()[:15], 16)
    low = torch.tensor([digest], dtype=torch.int64, device=device)
    high = low.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if int(low) != int(high):
        raise ConfigError(
            "the processes were started with different configurations; launch every rank with the same flags"
        )


def _restore(engine: Engine, payload: dict[str, Any]) -> None:
    if not np.array_equal(payload["agent_ids"].numpy(), engine.mixer.agent_ids):
        raise ConfigError(
            "the checkpoint was written with another process layout; resume with the same number of processes"
        )
    if tuple(payload["X"].shape) != tuple(engine.X.shape):
        raise ConfigError(
            "the checkpoint holds other columns of the model; resume with the same --stages and --split-points"
        )
    engine.X = payload["X"].to(engine.X.device, engine.X.dtype)
    engine.state = {k: v.to(engine.X.device) for k, v in payload["state"].items()}
    engine.t = int(payload["round"])
    engine.grad_evals = int(payload["grad_evals"])
    engine.mixer.bytes_sent = float(payload["bytes_sent"])
    engine.objective.load_state_dict(payload.get("oracle", {}))


def _payload(engine: Engine) -> dict[str, Any]:
    return {
        "round": engine.t,
        "X": engine.X.detach().cpu(),
        "state": {k: v.detach().cpu() for k, v in engine.state.items()},
        "grad_evals": engine.grad_evals,
        "bytes_sent": engine.mixer.bytes_sent,
        "agent_ids": torch.as_tensor(engine.mixer.agent_ids),
        "oracle": engine.objective.state_dict(),
    }


def _line(m: dict[str, float]) -> str:
    acc = (
        f"test acc {m['test_accuracy']:.4f}"
        if "test_accuracy" in m
        else f"test mse {m['test_mse']:.4g}"
        if "test_mse" in m
        else "no test set"  # --test-fraction 0
    )
    stages = (
        f" + {m['stage_bytes_per_agent'] / 1e6:.3g} MB between stages"
        if "stage_bytes_per_agent" in m
        else ""
    )
    return (
        f"round {int(m['round']):>6d} | loss {m['loss']:.5g} | {acc} | consensus {m['consensus_error']:.3g} | "
        f"{m['bytes_per_agent'] / 1e6:.3g} MB/agent{stages}"
    )


# Under torchrun the ranks compare their Ctrl-C flags every this many rounds: an all-reduce
# per round cost 0.3 ms on 2 and 1.7 ms on 4 processes of a 2-core machine (15% of a round).
_STOP_EVERY = 10


def _stop_agreed(stop: StopRequest, device: torch.device, t: int) -> bool:
    """Whether any rank got Ctrl-C: free in one process, one tiny all-reduce every few rounds under torchrun."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return stop.requested
    if t % _STOP_EVERY:
        return False
    flag = torch.tensor([int(stop.requested)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _checkpoint(out: Path, engine: Engine, rank: int) -> None:
    engine.check_finite()  # never checkpoint a NaN: the last good one stays
    checkpoint.save(out, engine.t, rank, _payload(engine))
    if dist.is_initialized():
        dist.barrier()
    if rank == 0:
        checkpoint.prune(out)


def _say(rank: int, text: str) -> None:
    if rank == 0:
        tqdm.write(text)


def run(config: RunConfig) -> dict[str, Any]:
    """Run (or resume) ``config``; returns the summary. Raises ConfigError on bad input before writing anything.

    Ctrl-C during the rounds checkpoints the round all ranks reached and raises
    :class:`~consensus.runtime.interrupt.Interrupted`.
    """
    launch = detect()
    try:
        setup, error = validate(config, launch), None
    except (ConfigError, TopologyError) as err:
        setup, error = {}, err
    agree.check("validate", error, config.timeout)  # every rank stops alike, rank 0 tells why
    out = setup["out"]
    if setup["finished"] is not None:
        done = setup["finished"]
        _say(
            launch.rank,
            f"{out} already finished its {done['rounds']} rounds: nothing to do (give --rounds > {done['rounds']} to continue it)",
        )
        _say(launch.rank, results.format_summary(done, out))
        return done
    device, dtype = setup["device"], setup["dtype"]
    schedule, algorithm, problem = setup["schedule"], setup["algorithm"], setup["problem"]
    if launch.distributed:
        init_group(device, config.timeout)
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    placement = place(
        config,
        schedule,
        setup["layer_parallel"],
        world=world,
        rank=rank,
        device=device,
        dtype=dtype,
    )
    engine = build_engine(
        schedule, algorithm, problem, agent_ids=placement.agent_ids, mixer=placement.mixer,
        batch_size=config.batch_size, reg=setup["reg"], global_every=config.global_every or None, seed=config.seed,
        dtype=dtype, device=device, init=config.init, layer_parallel=placement.layer_parallel,
        augment=config.augment,
    )  # fmt: skip
    _check_same_config(config, device)
    start_round = _agree_on_resume_round(out, launch, device) if setup["resume"] else None
    if start_round is not None and start_round > config.rounds:
        raise ConfigError(
            f"{out} already has a checkpoint of round {start_round}; --rounds {config.rounds} would not continue it, "
            f"give --rounds >= {start_round}"
        )
    try:
        if start_round is not None:
            _restore(engine, checkpoint.load(out, start_round, rank))
        error = None
    except ConfigError as err:
        error = err
    agree.check("restore", error, config.timeout)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        resolved = {**config.to_dict(), **placement.describe(world), "algorithm_options": {k: v for k, v in vars(algorithm).items()},
                    "schedule": schedule.name, "weights": schedule.rule, "parameters": ParamLayout.of(problem.module).dim,
                    "data_description": problem.data.describe(), "topology_details": schedule.details}  # fmt: skip
        results.write_json(out / "config.json", resolved)
        results.truncate_metrics(out, start_round or 0)
        # The run is not finished until summary.json is rewritten.
        (out / "summary.json").unlink(missing_ok=True)
        if not (out / "topology.png").is_file():
            results.draw_topology(schedule, out / "topology.png")
    if dist.is_initialized():
        dist.barrier()
    t0 = time.perf_counter()
    bar = tqdm(
        total=config.rounds,
        initial=engine.t,
        disable=rank != 0,
        desc=f"{algorithm.name} on {schedule.name}",
        leave=False,
    )
    _say(rank, problem.data.describe())
    if start_round is not None:
        _say(rank, f"resumed from the checkpoint of round {start_round} in {out}")
    checkpointed = start_round
    with StopRequest(distributed=world > 1, announce=rank == 0) as stop:
        while engine.t < config.rounds:
            _fault_hook(launch, engine.t)
            engine.step()
            bar.update(1)
            t = engine.t
            if t % config.eval_every == 0 or t == config.rounds:
                engine.check_finite()
                metrics = {**engine.metrics(), "wall_time": time.perf_counter() - t0}
                if rank == 0:
                    results.append_metrics(out, metrics)
                    tqdm.write(_line(metrics))
            # The last round is checkpointed too: a resume then sees that the run is complete,
            # and a resume with more rounds continues from it.
            if config.checkpoint_every and (t % config.checkpoint_every == 0 or t == config.rounds):
                _checkpoint(out, engine, rank)
                checkpointed = t
            if _stop_agreed(stop, device, t) and t < config.rounds:
                bar.close()
                if checkpointed != engine.t:
                    _checkpoint(out, engine, rank)
                now = {**engine.metrics(), "wall_time": time.perf_counter() - t0}
                _say(
                    rank,
                    f"stopped after round {engine.t} of {config.rounds}; checkpoint in {checkpoint.round_dir(out, engine.t)}",
                )
                _say(rank, results.format_summary(now, out))
                if dist.is_initialized():
                    dist.barrier()
                    dist.destroy_process_group()
                raise Interrupted(engine.t, out)
    bar.close()
    # A resume of a complete checkpoint runs no round: evaluate here (on every rank, collectively).
    evaluated = engine.metrics() if start_round == config.rounds else None
    average = placement.gather_model(engine.objective, engine.average())
    summary: dict[str, Any] = {}
    if rank == 0:
        if next(problem.module.parameters()).is_meta:  # a stage process let the template go
            problem.module.to_empty(device="cpu")
        model = ParamLayout.of(problem.module).load(
            problem.module, average.to(next(problem.module.parameters()).dtype).cpu()
        )
        results.save_model(out / "final_model.pt", model)
        results.plot_runs(
            [out], out / "curves.png", labels=[f"{algorithm.name} on {schedule.name}"]
        )
        rows = results.read_metrics(out)
        if evaluated is not None and not (rows and rows[-1]["round"] == config.rounds):
            results.append_metrics(out, {**evaluated, "wall_time": 0.0})
            rows = results.read_metrics(out)
        final = rows[-1]
        summary = {**final, "wall_time": time.perf_counter() - t0, "processes": world, "rounds": config.rounds,
                   "bytes_per_agent": final["bytes_per_agent"], "resumed_from": start_round}  # fmt: skip
        results.write_json(out / "summary.json", summary)
        _say(rank, f"finished {config.rounds} rounds")
        _say(rank, results.format_summary(summary, out))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return summary
