"""The short Python API: choose a topology, an algorithm and a problem, run R rounds."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

import topologies
from topologies import Schedule, TopologyError

from .algorithms import ALGORITHMS, Algorithm, make
from .data import Dataset
from .data.augment import RandomShift, resolve_augment
from .engine import Engine
from .errors import ConfigError
from .layerparallel.methods import Method
from .layerparallel.plan import LayerParallel
from .layerparallel.plan import layer_parallel as make_layer_parallel
from .losses import Loss
from .mixers import InProcessMixer, Mixer, SharedBoard, ThreadBlockMixer
from .models import ParamLayout
from .regularizers import Regularizer
from .setup import (
    Problem,
    held_out_tensors,
    initial_parameters,
    local_shards,
    make_objective,
    make_problem,
    resolve_dtype,
)


@dataclass
class Result:
    """What a run returns: the metrics history, the average model and the final agent parameters."""

    metrics: list[dict[str, float]]
    model: nn.Module
    X: torch.Tensor
    schedule: Schedule
    algorithm: Algorithm
    problem: Problem
    config: dict[str, Any] = field(default_factory=dict)

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(rounds, values)`` of one metric, ready to plot."""
        rounds = np.array([m["round"] for m in self.metrics])
        return rounds, np.array([m.get(key, np.nan) for m in self.metrics])

    @property
    def final(self) -> dict[str, float]:
        """The last evaluation."""
        return self.metrics[-1]


def check_topology(schedule: Schedule, algorithm: Algorithm) -> None:
    """Refuse a schedule whose weights lack what the algorithm needs (one line)."""
    if algorithm.requires:
        try:
            schedule.require(list(algorithm.requires), who=algorithm.name)
        except TopologyError as err:
            raise ConfigError(str(err)) from None


def build_engine(
    schedule: Schedule,
    algorithm: Algorithm,
    problem: Problem,
    *,
    agent_ids: np.ndarray,
    mixer: Mixer,
    batch_size: int,
    reg: Regularizer,
    global_every: int | None,
    seed: int,
    dtype: torch.dtype,
    device: str | torch.device,
    init: str,
    layer_parallel: LayerParallel | None = None,
    augment: str | RandomShift | None = None,
) -> Engine:
    """An engine for the block ``agent_ids`` with a given mixer, started at its initial parameters.

    With ``layer_parallel`` the agents are split into stages: all of them run
    in this process (the simulator), or this process is one stage of a mesh
    and its engine holds that stage's columns only. ``augment`` (a
    :func:`~consensus.data.augment.resolve_augment` spec) augments the image
    inputs of the rounds that train on augmented data (all, or a hybrid's serial ones).
    """
    shards = local_shards(problem, agent_ids, dtype=dtype, device=device)
    if layer_parallel is None:
        objective = make_objective(problem, shards, batch_size=batch_size, seed=seed)
        columns = slice(None)
    else:
        layer_parallel.check_batch(batch_size, [len(p) for p in problem.parts])
        objective = layer_parallel.objective(
            problem.module, problem.loss, shards, batch_size=batch_size, seed=seed, dtype=dtype,
            device=device,
        )  # fmt: skip
        columns = layer_parallel.columns
    augmentation = resolve_augment(augment)
    if augmentation is not None:
        objective.augment = augmentation.bind(
            problem.data.image_shape, seed=seed, agent_ids=agent_ids
        )
    engine = Engine(
        objective,
        algorithm,
        mixer,
        reg=reg,
        global_every=global_every,
        test=held_out_tensors(problem, dtype=dtype, device=device),
    )
    rows = initial_parameters(problem, agent_ids, init=init, seed=seed, dtype=dtype)
    engine.start(rows[:, columns].to(device))
    if layer_parallel is not None:
        layer_parallel.release(problem.module)
    return engine


def train(
    topology: str | Schedule | Any = "ring",
    algorithm: str | Algorithm = "next",
    *,
    agents: int = 8,
    dataset: str | Dataset = "digits",
    model: str | nn.Module = "mlp",
    loss: str | Loss | Callable[..., torch.Tensor] | None = None,
    partition: str = "iid",
    standardize: bool = True,
    test_fraction: float | None = None,
    rounds: int = 100,
    batch_size: int = 32,
    reg: str | Regularizer | None = None,
    global_every: int | None = None,
    eval_every: int = 10,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
    init: str = "same",
    progress: bool = False,
    blocks: int = 1,
    on_eval: Callable[[dict[str, float]], None] | None = None,
    threads: int | None = 1,
    stages: int = 1,
    layer_parallel: str | Method = "pipeline",
    split_points: Sequence[int] | str | None = None,
    augment: str | RandomShift | None = None,
    **algorithm_options: Any,
) -> Result:
    """Train ``agents`` agents on a topology with a decentralized algorithm, in this process.

    Parameters
    ----------
    topology : str, Schedule, graph or callable
        Any :func:`topologies.get` spec.
    algorithm : str or Algorithm
        A name from :data:`consensus.ALGORITHMS` (options as keyword arguments,
        e.g. ``lr=0.1`` or ``tau=2.0``) or an instance.
    agents, dataset, model, loss, partition
        The problem: ``dataset`` a built-in name, a ``.npz`` path or a
        :class:`~consensus.data.Dataset`; ``model`` a name from
        :data:`consensus.MODELS` or any ``nn.Module``; ``loss`` a name from
        :data:`consensus.losses.LOSSES` (default: cross-entropy for
        classification, mse for regression) or a torch loss such as
        ``nn.HuberLoss()`` (see :meth:`~consensus.losses.Loss.wrap`);
        ``partition`` ``iid``, ``label[:K]`` or ``dirichlet:ALPHA``.
    standardize, test_fraction
        As in :func:`~consensus.load_dataset`: scale the features (and
        regression targets) on the training rows (default) or keep them as
        given; hold out this fraction of the rows as the test set (default
        0.25, or a ``.npz`` file's own ``X_test``; 0: no test set, and
        ``result.final`` has no ``test_*`` entries).
    rounds, batch_size, eval_every
        Rounds to run; samples per agent per round (0: the whole shard); how
        often to evaluate.
    reg : str or Regularizer
        ``l2:LAM``, ``l1:LAM``, ``elastic:L1,L2`` or None.
    global_every : int or None
        Exact average instead of gossip every this many rounds (Gossip-PGA).
    blocks : int
        Split the agents into this many contiguous blocks, each run by its own
        engine in a thread with a shared-memory mixer: the layout of a
        multi-process run, in one process. The trajectory is the same.
    stages, layer_parallel, split_points
        Layer-parallel agents: each agent's model cut into ``stages`` stages
        (balanced by parameter count, or at ``split_points``, layer indices
        like ``"2,5"``) that cooperate by the method ``layer_parallel``
        (``pipeline[:schedule=1f1b|gpipe,microbatches=M]``, or the
        serial-parallel hybrid ``sph[:method=penalty|al,...]``, see
        :class:`~consensus.layerparallel.sph.SPHMethod`). Here the stages
        run in turn in this process, with the same trajectory as a mesh of
        stage processes under torchrun (``--stages``).
    augment : str or None
        Random shifts (and flips) of image inputs, e.g. ``"shift:pixels=1"``
        (``flip=true`` mirrors too), seeded per agent and round; a hybrid
        (``sph``) augments its serial rounds only.
    threads : int or None
        torch's intra-op thread count while the agents train
        (:func:`torch.set_num_threads`), restored when ``train`` returns or
        raises. The default 1 matches the command line (``OMP_NUM_THREADS=1``):
        the many small per-agent operations of a simulated run are several
        times slower with torch's default of one thread per core, more so on a
        busy machine. None leaves the
        setting alone (use it with ``OMP_NUM_THREADS`` or your own
        ``torch.set_num_threads``). The setting is process-wide: do not run
        two ``train`` calls with different ``threads`` at once in one process.

    Examples
    --------
    >>> import consensus
    >>> result = consensus.train("ring", "gradient_tracking", agents=4, dataset="wine", model="logistic",
    ...                          rounds=20, lr=0.2, eval_every=10)
    >>> result.final["test_accuracy"] > 0.8
    True
    """
    torch_dtype = resolve_dtype(dtype)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"rounds={rounds!r} must be a positive integer")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(
            f"threads={threads!r} must be a positive integer, or None to keep torch's setting"
        )
    alg = algorithm if isinstance(algorithm, Algorithm) else make(algorithm, **algorithm_options)
    if isinstance(algorithm, Algorithm) and algorithm_options:
        raise ConfigError(
            "pass algorithm options either in the Algorithm instance or as keywords, not both"
        )
    problem = make_problem(
        dataset, model, agents=agents, partition_scheme=partition, loss=loss, seed=seed,
        standardize=standardize, test_fraction=test_fraction,
    )  # fmt: skip
    try:
        schedule = topologies.get(topology, agents, seed=seed)
    except TopologyError as err:
        raise ConfigError(str(err)) from None
    check_topology(schedule, alg)
    regularizer = reg if isinstance(reg, Regularizer) else Regularizer.parse(reg)
    split = make_layer_parallel(problem.module, stages, layer_parallel, split_points)
    common = dict(
        batch_size=batch_size,
        reg=regularizer,
        global_every=global_every,
        seed=seed,
        dtype=torch_dtype,
        device=device,
        init=init,
        layer_parallel=split,
        augment=augment,
    )
    with _torch_threads(threads):
        if blocks == 1:
            engine = build_engine(
                schedule,
                alg,
                problem,
                agent_ids=np.arange(agents),
                mixer=InProcessMixer(schedule, dtype=torch_dtype, device=device),
                **common,  # type: ignore[arg-type]
            )
            bar = tqdm(total=rounds, disable=not progress, desc=alg.name)
            history: list[dict[str, float]] = []
            for chunk in _chunks(rounds, eval_every or rounds):
                history += engine.run(chunk, eval_every=chunk, on_eval=on_eval)
                bar.update(chunk)
            bar.close()
            X_all, average = engine.X, engine.average()
        else:
            history, X_all, average = _run_blocks(
                schedule, alg, problem, blocks, rounds, eval_every, common
            )
    layout = ParamLayout.of(problem.module)
    model_out = layout.load(problem.module, average.to(next(problem.module.parameters()).dtype))
    config = {
        "topology": str(topology) if isinstance(topology, str) else schedule.name,
        "algorithm": alg.name,
        "agents": agents,
        "rounds": rounds,
        "batch_size": batch_size,
        "reg": str(regularizer),
        "global_every": global_every,
        "seed": seed,
    }
    return Result(history, model_out, X_all, schedule, alg, problem, config)


def _run_blocks(
    schedule: Schedule,
    algorithm: Algorithm,
    problem: Problem,
    blocks: int,
    rounds: int,
    eval_every: int,
    common: dict[str, Any],
) -> tuple[list[dict[str, float]], torch.Tensor, torch.Tensor]:
    """Run the agents as ``blocks`` engines in threads; returns block 0's metrics, all rows, the average."""
    if not 1 <= blocks <= schedule.n:
        raise ConfigError(
            f"blocks={blocks} must be between 1 and the number of agents {schedule.n}"
        )
    ids = np.array_split(np.arange(schedule.n), blocks)
    board = SharedBoard(blocks)
    engines = [
        build_engine(
            schedule,
            copy.deepcopy(algorithm),
            problem,
            agent_ids=ids[r],
            mixer=ThreadBlockMixer(schedule, ids, r, board, dtype=common["dtype"]),
            **common,
        )
        for r in range(blocks)
    ]
    results: list[Any] = [None] * blocks
    errors: list[BaseException] = []

    def work(r: int) -> None:
        try:
            results[r] = engines[r].run(rounds, eval_every=eval_every)
        except BaseException as err:  # surfaced below; abort the others
            errors.append(err)
            board.barrier.abort()

    threads = [threading.Thread(target=work, args=(r,)) for r in range(blocks)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise next(
            (e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0]
        )
    X_all = torch.cat([e.X for e in engines])
    return results[0], X_all, X_all.mean(0)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside, put back as found after."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - k) for k in range(0, total, size)]


__all__ = ["ALGORITHMS", "Result", "build_engine", "check_topology", "train"]
