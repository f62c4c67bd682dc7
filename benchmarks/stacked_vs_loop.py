"""Stacked agents vs the ways a user would write the same round without Concord.

One round for 64 agents with a batch of 16 each on digits (an MLP):

* stacked: ``Engine.step()`` of an engine from :func:`consensus.api.build_engine`
  with an :class:`~consensus.InProcessMixer` on a ring (D-PSGD: stacked
  gradients, the update, one gossip product);
* generic vmap: the same, with the MLP written as a plain ``nn.Sequential``
  (no ``stacked_forward``), which runs through ``torch.func.vmap(functional_call)``;
* (a) loop: 64 ``nn.Module`` copies, each forward/backward on its 16 samples
  and an SGD step, then gossip averaging with the ring neighbours, parameter by
  parameter, in a Python loop. Goal: stacked at least 10x faster;
* (b) batch 1024: one model, forward/backward/SGD step on the 1,024 samples
  (the same arithmetic in the model, no gossip). Goal: stacked at most 2x slower.

Variants are timed interleaved (so that load on the machine hits them alike),
and each number is the median over repeats of the mean over a few rounds, by
``time.perf_counter`` (``--clock cpu``: this thread's CPU time, steadier on a
shared machine). A breakdown of the stacked round into its phases follows.

Run: ``python benchmarks/stacked_vs_loop.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(1)

import topologies  # noqa: E402
from consensus.algorithms import make  # noqa: E402
from consensus.api import build_engine  # noqa: E402
from consensus.engine import Engine  # noqa: E402
from consensus.mixers import InProcessMixer  # noqa: E402
from consensus.models import MLP, ParamLayout  # noqa: E402
from consensus.regularizers import Regularizer  # noqa: E402
from consensus.setup import make_problem  # noqa: E402

LR = 0.01
CLOCK = time.perf_counter


def time_interleaved(
    fns: dict[str, tuple[Callable[[], None], int]], *, warmup: int, repeats: int
) -> dict[str, float]:
    """Median over ``repeats`` of the mean seconds per call, variants interleaved.

    ``fns`` maps a name to ``(function, calls per sample)``.
    """
    for fn, _ in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, (fn, inner) in fns.items():
            start = CLOCK()
            for _ in range(inner):
                fn()
            samples[name].append((CLOCK() - start) / inner)
    return {k: statistics.median(v) for k, v in samples.items()}


def phases(engine: Engine, *, warmup: int, rounds: int) -> dict[str, float]:
    """Median seconds of the phases of ``Engine.step()``: batch, gradient, update (with the mix), mix."""
    samples: dict[str, list[float]] = {"batch": [], "gradient": [], "update": [], "mix": []}
    for r in range(warmup + rounds):
        t0 = CLOCK()
        t = engine.t
        batch = engine.objective.batch(t)
        t1 = CLOCK()
        G, _ = engine.objective.gradient(engine.X, batch)
        t2 = CLOCK()
        with torch.no_grad():
            X, state = engine.algorithm.update(engine.X, G, engine.state, engine._context(t, batch))
        t3 = CLOCK()
        engine.mixer.mix(t, X)
        t4 = CLOCK()
        engine.X, engine.state, engine.t = X, state, t + 1
        if r >= warmup:
            for key, sec in zip(samples, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                samples[key].append(sec)
    return {k: statistics.median(v) for k, v in samples.items()}


def sequential_like(module: MLP) -> nn.Sequential:
    """The same MLP as a plain ``nn.Sequential`` (no ``stacked_forward``: the generic vmap path)."""
    mods: list[nn.Module] = []
    for k, layer in enumerate(module.layers):
        mods.append(copy.deepcopy(layer))
        if k < len(module.layers) - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def engine_for(model: nn.Module, algorithm: str, n: int, batch: int, seed: int = 0) -> Engine:
    problem = make_problem("digits", model, agents=n, seed=seed)
    schedule = topologies.get("ring", n, seed=seed)
    return build_engine(
        schedule,
        make(algorithm, lr=LR),
        problem,
        agent_ids=np.arange(n),
        mixer=InProcessMixer(schedule, dtype=torch.float32),
        batch_size=batch,
        reg=Regularizer(),
        global_every=None,
        seed=seed,
        dtype=torch.float32,
        device="cpu",
        init="same",
    )


class LoopBaseline:
    """64 module copies in a Python loop: forward/backward/SGD each, then neighbour averaging."""

    def __init__(self, template: nn.Module, X0: torch.Tensor, engine: Engine):
        self.n = X0.shape[0]
        layout = engine.objective.layout
        self.models = [layout.load(copy.deepcopy(template), X0[i]) for i in range(self.n)]
        self.opts = [torch.optim.SGD(m.parameters(), lr=LR) for m in self.models]
        assert isinstance(engine.mixer, InProcessMixer)
        W = sp.csr_array(engine.mixer.schedule.weights(0))
        self.neighbours = [
            (
                W.indices[W.indptr[i] : W.indptr[i + 1]].tolist(),
                W.data[W.indptr[i] : W.indptr[i + 1]].tolist(),
            )
            for i in range(self.n)
        ]
        batch = engine.objective.batch(0)
        self.x, self.y = batch.x, batch.y
        # engine's loss per agent is sum_b w * loss = (w_i * B) * mean loss
        self.scale = (batch.w[:, 0] * batch.x.shape[1]).tolist()

    def round(self) -> None:
        for i, (m, opt) in enumerate(zip(self.models, self.opts, strict=True)):
            opt.zero_grad()
            loss = F.cross_entropy(m(self.x[i]), self.y[i]) * self.scale[i]
            loss.backward()
            opt.step()
        with torch.no_grad():
            params = [list(m.parameters()) for m in self.models]
            new = []
            for i in range(self.n):
                cols, weights = self.neighbours[i]
                new.append(
                    [
                        sum(w * params[j][k] for j, w in zip(cols, weights, strict=True))
                        for k in range(len(params[i]))
                    ]
                )
            for i in range(self.n):
                for p, v in zip(params[i], new[i], strict=True):
                    p.copy_(v)

    def flat(self, layout: ParamLayout) -> torch.Tensor:
        return torch.stack([layout.flatten(m) for m in self.models])


class BigBatchBaseline:
    """One model, one batch of n * B samples: forward, backward, SGD step."""

    def __init__(self, template: nn.Module, engine: Engine):
        self.model = copy.deepcopy(template)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        batch = engine.objective.batch(0)
        self.x = batch.x.reshape(-1, batch.x.shape[-1])
        self.y = batch.y.reshape(-1)

    def round(self) -> None:
        self.opt.zero_grad()
        F.cross_entropy(self.model(self.x), self.y).backward()
        self.opt.step()


def check_same_arithmetic(hidden: tuple[int, ...], n: int, batch: int) -> float:
    """Max difference between the stacked engine and the loop after one identical round."""
    torch.manual_seed(0)
    template = MLP(64, 10, hidden=hidden)
    engine = engine_for(template, "dsgd", n, batch)
    loop = LoopBaseline(template, engine.X, engine)
    loop.round()
    engine.step()
    return float((engine.X - loop.flat(engine.objective.layout)).abs().max())


def bench_model(
    hidden: tuple[int, ...], n: int, batch: int, timing: dict[str, int], *, goals: bool
) -> tuple[list[tuple], dict[str, float]]:
    torch.manual_seed(0)
    template = MLP(64, 10, hidden=hidden)
    stacked = engine_for(template, "dsgd", n, batch)
    tracking = engine_for(template, "gradient_tracking", n, batch)
    generic = engine_for(sequential_like(template), "dsgd", n, batch)
    loop = LoopBaseline(template, stacked.X, stacked)
    big = BigBatchBaseline(template, stacked)
    inner = timing["inner"]
    fns = {
        "stacked": (stacked.step, inner),
        "stacked gradient_tracking": (tracking.step, inner),
        "generic vmap": (generic.step, inner),
        "(a) loop": (loop.round, max(1, inner // 8)),  # slow: fewer calls per sample
        "(b) batch": (big.round, inner),
    }
    t = time_interleaved(fns, warmup=timing["warmup"], repeats=timing["repeats"])
    base = t["stacked"]
    layers = "-".join(str(s) for s in (64, *hidden, 10))
    d = stacked.X.shape[1]
    rows = [
        (f"stacked dsgd, MLP {layers} (d={d})", t["stacked"], 1.0, "", ""),
        (
            "stacked gradient_tracking",
            t["stacked gradient_tracking"],
            t["stacked gradient_tracking"] / base,
            "info",
            "",
        ),
        (
            "generic vmap(functional_call), nn.Sequential",
            t["generic vmap"],
            t["generic vmap"] / base,
            "info",
            "",
        ),
    ]
    ratio_a = t["(a) loop"] / base
    rows.append(
        (
            f"(a) Python loop over {n} modules + loop gossip",
            t["(a) loop"],
            ratio_a,
            ">= 10" if goals else "info",
            ("PASS" if ratio_a >= 10 else "FAIL") if goals else "",
        )
    )
    ratio_b = t["(b) batch"] / base
    rows.append(
        (
            f"(b) one model, batch {n * batch}",
            t["(b) batch"],
            ratio_b,
            ">= 0.5" if goals else "info",
            ("PASS" if ratio_b >= 0.5 else "FAIL") if goals else "",
        )
    )
    split = phases(stacked, warmup=timing["warmup"], rounds=timing["repeats"] * timing["inner"])
    return rows, split


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few repeats)")
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.thread_time (steadier under load)",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.thread_time
    timing = (
        dict(warmup=2, repeats=3, inner=2)
        if args.quick
        else dict(warmup=10, repeats=args.repeats or 15, inner=8)
    )
    n, batch = args.agents, args.batch
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {n} agents x batch {batch}, digits, ring; "
        f"median of {timing['repeats']} repeats, {args.clock} clock"
    )
    diff = check_same_arithmetic((64,), n, batch)
    print(f"check: stacked engine vs loop after one round, max |dX| = {diff:.2e}")
    header = f"{'variant':<50} {'ms/round':>9} {'vs stacked':>11} {'goal':>7} {'result':>6}"
    failed = False
    models = (
        ((64,), "built-in MLP (the goals)", True),
        ((128, 128), "wider MLP from DESIGN.md (information: memory-bound, see README)", False),
    )
    for hidden, label, goals in models:
        print(f"\n{label}")
        print(header)
        print("-" * len(header))
        rows, split = bench_model(hidden, n, batch, timing, goals=goals)
        for name, sec, ratio, goal, verdict in rows:
            print(f"{name:<50} {sec * 1e3:>9.2f} {ratio:>10.2f}x {goal:>7} {verdict:>6}")
            failed |= verdict == "FAIL"
        print(
            "stacked dsgd round by phase (ms): "
            + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in split.items())
            + " (mix is part of update)"
        )
    print(
        "\n'vs stacked' = variant time / stacked time: (a) goal >= 10 (stacked 10x faster), "
        "(b) goal >= 0.5 (stacked at most 2x slower)."
    )
    if failed:
        print("built-in MLP: a goal FAILED")


if __name__ == "__main__":
    main()
