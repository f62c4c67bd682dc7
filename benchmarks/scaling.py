"""How a round scales with the number of agents: time and memory per agent.

Logistic regression (:class:`consensus.models.LinearModel`) on digits with 64,
256 and 1,024 agents on a degree-4 graph (``random_regular:d=4`` by default),
batch 16 per agent, for gradient tracking and NEXT. For each size it reports:

* time per round (``Engine.step()``: stacked gradients, update, gossip) and time
  per round per agent. Goal: about flat (linear growth): per-agent time at
  most 1.5x the per-agent time at the smallest size;
* the engine's per-agent state beyond the data: the bytes of the parameters
  ``engine.X``, the algorithm state (``engine.state``) and the mixer's matrix,
  each storage counted once, divided by n. Goal: at most ``(k + 2) * d * 4``
  bytes (k = ``algorithm.state_vectors``, d = parameter dimension, float32);
* peak RSS growth while building the engine and running it, per agent (for
  information: it includes the data shards, the test set and temporaries).

The sizes of one algorithm are timed interleaved (medians of repeats, by
``time.perf_counter``; ``--clock cpu`` for this thread's CPU time).

Run: ``python benchmarks/scaling.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import gc
import statistics
import time
import warnings

import numpy as np
import torch

torch.set_num_threads(1)

import topologies  # noqa: E402
from consensus.algorithms import make  # noqa: E402
from consensus.api import build_engine  # noqa: E402
from consensus.engine import Engine  # noqa: E402
from consensus.mixers import InProcessMixer  # noqa: E402
from consensus.models import LinearModel  # noqa: E402
from consensus.regularizers import Regularizer  # noqa: E402
from consensus.setup import make_problem  # noqa: E402

ALGORITHMS = {"gradient_tracking": {"lr": 0.05}, "next": {"tau": 2.0}}
CLOCK = time.perf_counter


def _status_kb(key: str) -> int | None:
    """A ``/proc/self/status`` field in kB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> tuple[int | None, int | None]:
    """(current RSS, peak RSS) in bytes: psutil if installed, else /proc/self/status."""
    try:
        import psutil

        info = psutil.Process().memory_info()
        peak = _status_kb("VmHWM")
        return info.rss, (peak * 1024 if peak is not None else getattr(info, "peak_wset", None))
    except ImportError:
        rss, hwm = _status_kb("VmRSS"), _status_kb("VmHWM")
        return (rss * 1024 if rss is not None else None), (hwm * 1024 if hwm is not None else None)


def tensor_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the storages behind ``tensors``, each storage once (views share one)."""
    seen: set[int] = set()
    total = 0
    for t in tensors:
        if t.layout == torch.sparse_csr:
            parts = [t.crow_indices(), t.col_indices(), t.values()]
        elif t.is_sparse:
            parts = [t._indices(), t._values()]
        else:
            parts = [t]
        for p in parts:
            storage = p.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def engine_state_bytes(engine: Engine) -> int:
    """Parameters, algorithm state and the mixer's matrix of this round."""
    product, _ = engine.mixer.matrix(engine.t)  # type: ignore[attr-defined]
    state = [v for v in engine.state.values() if isinstance(v, torch.Tensor)]
    return tensor_bytes([engine.X, *state, *product.tensors()])


def build(n: int, algorithm: str, topology: str, batch: int) -> Engine:
    problem = make_problem("digits", LinearModel(64, 10), agents=n, seed=0)
    schedule = topologies.get(topology, n, seed=0)
    return build_engine(
        schedule,
        make(algorithm, **ALGORITHMS[algorithm]),
        problem,
        agent_ids=np.arange(n),
        mixer=InProcessMixer(schedule, dtype=torch.float32),
        batch_size=batch,
        reg=Regularizer(),
        global_every=None,
        seed=0,
        dtype=torch.float32,
        device="cpu",
        init="same",
    )


def prepare(n: int, algorithm: str, topology: str, batch: int, warmup: int) -> tuple[Engine, float]:
    """An engine after ``warmup`` rounds, and the peak RSS growth per agent while building and running it."""
    gc.collect()
    can_reset = reset_peak_rss()
    rss0, _ = rss_bytes()
    engine = build(n, algorithm, topology, batch)
    for _ in range(warmup):
        engine.step()
    _, peak = rss_bytes()
    ok = can_reset and peak is not None and rss0 is not None
    return engine, ((peak - rss0) / n) if ok else float("nan")  # type: ignore[operator]


def time_interleaved(engines: dict[int, Engine], *, repeats: int, inner: int) -> dict[int, float]:
    """Median over ``repeats`` of the mean seconds per ``step()``, the sizes interleaved."""
    samples: dict[int, list[float]] = {n: [] for n in engines}
    for _ in range(repeats):
        for n, engine in engines.items():
            start = CLOCK()
            for _ in range(inner):
                engine.step()
            samples[n].append((CLOCK() - start) / inner)
    return {n: statistics.median(v) for n, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few repeats)")
    parser.add_argument(
        "--topology", default="random_regular:d=4", help="a degree-4 graph, e.g. torus"
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sizes", default="64,256,1024")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.thread_time (steadier under load)",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.thread_time
    sizes = [int(s) for s in args.sizes.split(",")]
    timing = (
        dict(warmup=2, repeats=3, inner=2) if args.quick else dict(warmup=5, repeats=11, inner=5)
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); logistic regression on digits, "
        f"{args.topology}, batch {args.batch} per agent; median of {timing['repeats']} repeats, "
        f"{args.clock} clock"
    )
    header = (
        f"{'algorithm':<18} {'n':>5} {'ms/round':>9} {'us/agent':>9} {'vs n0':>6} {'time':>5} "
        f"{'state B/agent':>13} {'goal B':>7} {'mem':>5} {'peak RSS +B/agent':>17}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    # One-time costs (imports, loading the dataset, first allocations) out of the first row.
    for algorithm in ALGORITHMS:
        warm = build(min(sizes), algorithm, args.topology, args.batch)
        for _ in range(timing["warmup"]):
            warm.step()
        del warm
    for algorithm in ALGORITHMS:
        engines, rss = {}, {}
        for n in sizes:
            engines[n], rss[n] = prepare(n, algorithm, args.topology, args.batch, timing["warmup"])
        secs = time_interleaved(engines, repeats=timing["repeats"], inner=timing["inner"])
        base = secs[sizes[0]] / sizes[0]
        for n, engine in engines.items():
            if not bool(torch.isfinite(engine.X).all()):
                warnings.warn(f"{algorithm} n={n}: parameters became non-finite", stacklevel=1)
            d, k = engine.X.shape[1], engine.algorithm.state_vectors
            state_bytes, goal_bytes = engine_state_bytes(engine) / n, (k + 2) * d * 4
            per_agent = secs[n] / n
            growth = per_agent / base
            time_ok = growth <= 1.5
            mem_ok = state_bytes <= goal_bytes
            failed |= not (time_ok and mem_ok)
            print(
                f"{algorithm:<18} {n:>5} {secs[n] * 1e3:>9.2f} {per_agent * 1e6:>9.1f} {growth:>5.2f}x "
                f"{'PASS' if time_ok else 'FAIL':>5} {state_bytes:>13.0f} {goal_bytes:>7.0f} "
                f"{'PASS' if mem_ok else 'FAIL':>5} {rss[n]:>17.0f}"
            )
        del engines
    print(
        f"\nd = {d} parameters. 'vs n0' = time per agent / time per agent at n={sizes[0]} (goal <= 1.5x: "
        "linear growth); 'state B/agent' = bytes of X + algorithm state + mixing matrix per agent, goal "
        "(k + 2) * d * 4; peak RSS growth is for information."
    )
    if failed:
        print("a goal FAILED")


if __name__ == "__main__":
    main()
