"""The gossip exchange of :class:`~consensus.mixers.distributed.DistributedMixer` vs raw torch.distributed.

Table A: one ``mixer.mix(t, x)`` round (static ring, so the exchange plan is
cached) against the minimal hand-written exchange of the same bytes with the
same peers: preallocated send/receive tensors of exactly the sizes the mixer
sends, ``dist.irecv``/``dist.isend`` to the same peers, wait. Baselines:

* ``raw comm``: the exchange only;
* ``raw+comb``: the exchange plus the same local combine written without a
  matmul (``out_i = sum_j w_ij x_j`` with ``mul``/``add_``) into a new tensor,
  as ``mix`` returns new tensors (the goal's baseline);
* ``raw+comb*``: the same into one preallocated result (information: what a
  fresh result costs; large fresh buffers are page-faulted in on every round).

4 processes (gloo, one thread each); a ring of 4 agents (one per rank, each
rank exchanges one row with each of its 2 neighbours) and of 8 agents (2 per
rank); 1e4 ... 1e7 float32 per agent. Goal: mixer <= 1.1x ``raw+comb``.

Table B: one full training round (``Engine.step()``: gradients, the NEXT
update and its gossip of two vectors) for 16 agents, MLP on digits, batch 32,
hosted by 1, 2 and 4 processes (1 process: :class:`~consensus.InProcessMixer`;
more: :class:`DistributedMixer` on :func:`contiguous_blocks`, as the runner
builds them). Reported as ms per round and speedup vs 1 process; it also
checks that every layout ends at the same average model.

Every time is the median over repeats (each repeat a few calls after a
``dist.barrier()``, variants in a fresh seeded order every repeat) of the
per-call time, maximised over ranks. Table A's ratio is paired: the median over
repeats of mixer / raw+comb within the same repeat (each the slowest rank's
time). Workers are spawned here with ``torch.multiprocessing`` and meet through
a ``file://`` rendezvous in a temporary directory (no fixed port).

Run: ``python benchmarks/gossip_exchange.py`` (``--quick``: 1e4 and 1e5 floats only;
``--sizes 1e4,1e6`` picks Table A's sizes; ``--skip-b``: Table A only).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import datetime
import functools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

GOAL = 1.1


# --------------------------------------------------------------------------- helpers


def _join(rank: int, world: int, rendezvous: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=300),
    )


def _time_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    warmup: int,
    repeats: int,
    inner: int,
    pair: tuple[str, str] | None = None,
) -> dict[str, float]:
    """Median over repeats of seconds per call (``inner`` calls after a barrier), max over ranks.

    With ``pair=(a, b)`` the result also has ``"a/b"``: the median over repeats of the ratio of
    a's and b's times within the same repeat, each the max over ranks (paired, so load that
    drifts between repeats cancels; a ratio maximised over ranks would be biased upwards).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        # A fresh order every repeat, the same on every rank (seeded by r). A rotation keeps each
        # variant behind the same predecessor, and that biased the small sizes by up to 30%.
        order = names[:]
        random.Random(r).shuffle(order)
        for name in order:
            fn = fns[name]
            dist.barrier()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    medians = torch.tensor([statistics.median(samples[k]) for k in names], dtype=torch.float64)
    dist.all_reduce(medians, op=dist.ReduceOp.MAX)
    out = dict(zip(names, medians.tolist(), strict=True))
    if pair is not None:
        a, b = pair
        both = torch.tensor([samples[a], samples[b]], dtype=torch.float64)
        dist.all_reduce(both, op=dist.ReduceOp.MAX)  # per repeat: the slowest rank
        out[f"{a}/{b}"] = statistics.median((both[0] / both[1]).tolist())
    return out


def _spawn(fn: Callable, world: int, tmp: Path, name: str, *args: object) -> object:
    """Run ``fn(rank, world, rendezvous, out, *args)`` on ``world`` fresh processes; rank 0's JSON."""
    rendezvous = tmp / f"{name}.rdv"
    out = tmp / f"{name}.json"
    mp.spawn(fn, args=(world, str(rendezvous), str(out), *args), nprocs=world, join=True)
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- Table A

# Per buffer size: warmup calls, repeats (each after a barrier), calls per repeat.
_TIMING = {
    10**4: dict(warmup=10, repeats=41, inner=10),
    10**5: dict(warmup=5, repeats=41, inner=5),
    10**6: dict(warmup=2, repeats=9, inner=3),
    10**7: dict(warmup=1, repeats=3, inner=1),
}


class RawExchange:
    """The minimal hand-written gossip of one round, derived from ``W`` alone."""

    def __init__(self, W: sp.csr_array, blocks: list[np.ndarray], rank: int, x: torch.Tensor):
        owner = np.empty(W.shape[0], dtype=np.int64)
        for r, b in enumerate(blocks):
            owner[b] = r
        mine = blocks[rank]
        lo = int(mine[0])
        self.x = x
        self.peers_in: dict[int, list[int]] = {}  # peer -> global agents received (ascending)
        self.peers_out: dict[int, list[int]] = {}  # peer -> my local rows it needs
        for i in mine:
            for j in W.indices[W.indptr[i] : W.indptr[i + 1]]:
                if owner[j] != rank:
                    self.peers_in.setdefault(int(owner[j]), []).append(int(j))
        for q, b in enumerate(blocks):
            if q == rank:
                continue
            for i in b:
                for j in W.indices[W.indptr[i] : W.indptr[i + 1]]:
                    if owner[j] == rank:
                        self.peers_out.setdefault(q, []).append(int(j) - lo)
        self.peers_in = {q: sorted(set(v)) for q, v in self.peers_in.items()}
        self.peers_out = {q: sorted(set(v)) for q, v in self.peers_out.items()}
        width = x.shape[1]
        # Preallocated, exactly the sizes the mixer sends; the send rows are copied once (the data
        # does not change between rounds here).
        self.send = {q: x[rows].clone() for q, rows in self.peers_out.items()}
        self.recv = {
            q: torch.empty(len(rows), width, dtype=x.dtype) for q, rows in self.peers_in.items()
        }
        # Combine: out[i] = sum_j w_ij * (row j, own or received), as (weight, source row) terms.
        where: dict[int, torch.Tensor] = {int(g): x[k] for k, g in enumerate(mine)}
        for q, rows in self.peers_in.items():
            for k, g in enumerate(rows):
                where[g] = self.recv[q][k]
        self.terms = [
            [
                (float(W.data[p]), where[int(W.indices[p])])
                for p in range(W.indptr[i], W.indptr[i + 1])
            ]
            for i in mine
        ]
        self.out = torch.empty_like(x)

    def bytes_out(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.send.values())

    def comm(self) -> None:
        works = [dist.irecv(self.recv[q], src=q, tag=0) for q in sorted(self.recv)]
        works += [dist.isend(self.send[q], dst=q, tag=0) for q in sorted(self.send)]
        for w in works:
            w.wait()

    def combine(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """``out_i = sum_j w_ij x_j`` with ``mul``/``add_``; a new result unless ``out`` is given."""
        out = torch.empty_like(self.x) if out is None else out
        for row, terms in zip(out, self.terms, strict=True):
            (w0, src0), *rest = terms
            torch.mul(src0, w0, out=row)
            for w, src in rest:
                row.add_(src, alpha=w)
        return out

    def comm_combine(self) -> torch.Tensor:
        """The exchange and a combine into a new tensor (as ``mix``, which returns new tensors)."""
        self.comm()
        return self.combine()

    def comm_combine_inplace(self) -> torch.Tensor:
        """The exchange and a combine into one preallocated result, reused every round."""
        self.comm()
        return self.combine(self.out)


def _table_a_worker(
    rank: int, world: int, rendezvous: str, out: str, sizes: list[int], agent_counts: list[int]
) -> None:
    _join(rank, world, rendezvous)
    import topologies
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks

    rows = []
    for n in agent_counts:
        schedule = topologies.get("ring", n, seed=0)
        W = sp.csr_array(schedule.weights(0))
        blocks = contiguous_blocks(n, world)
        for size in sizes:
            mixer = DistributedMixer(schedule, blocks, timeout=120.0)
            gen = torch.Generator().manual_seed(1000 * rank + n)
            x = torch.randn(len(blocks[rank]), size, generator=gen)
            raw = RawExchange(W, blocks, rank, x)
            plan = mixer.plan(0)
            same = {q: len(v) for q, v in plan.send.items()} == {
                q: len(v) for q, v in raw.peers_out.items()
            } and dict(plan.recv) == {q: len(v) for q, v in raw.peers_in.items()}
            # Correctness: the mixer and the raw combine give the same rows (float32 rounding apart).
            diff = float((mixer.mix(0, x)[0] - raw.comm_combine()).abs().max())
            timing = _TIMING[size] if size in _TIMING else dict(warmup=2, repeats=5, inner=1)
            variants = {
                "mixer": functools.partial(mixer.mix, 0, x),
                "raw": raw.comm,
                "raw+comb": raw.comm_combine,
                "raw+comb*": raw.comm_combine_inplace,
            }
            t = _time_interleaved(variants, **timing, pair=("mixer", "raw+comb"))
            checks = torch.tensor([diff, 0.0 if same else 1.0], dtype=torch.float64)
            dist.all_reduce(checks, op=dist.ReduceOp.MAX)
            rows.append(
                {
                    "floats": size,
                    "agents": n,
                    "peers": len(raw.send),
                    "mb_out": raw.bytes_out() / 1e6,
                    "repeats": timing["repeats"],
                    **t,
                    "diff": float(checks[0]),
                    "same_plan": bool(checks[1] == 0),
                }
            )
            del variants, mixer, raw, x  # free the large buffers before the next size
    if rank == 0:
        Path(out).write_text(json.dumps(rows))
    dist.barrier()
    dist.destroy_process_group()


# --------------------------------------------------------------------------- Table B


def _table_b_worker(
    rank: int, world: int, rendezvous: str, out: str, agents: int, batch: int, timing: dict
) -> None:
    _join(rank, world, rendezvous)
    import topologies
    from consensus.algorithms import make
    from consensus.api import build_engine
    from consensus.mixers import InProcessMixer
    from consensus.mixers.distributed import DistributedMixer, contiguous_blocks
    from consensus.regularizers import Regularizer
    from consensus.setup import make_problem

    problem = make_problem("digits", "mlp", agents=agents, seed=0)
    schedule = topologies.get("ring", agents, seed=0)
    if world > 1:
        blocks = contiguous_blocks(agents, world)
        mixer = DistributedMixer(schedule, blocks, timeout=120.0)
        agent_ids = blocks[rank]
    else:
        mixer = InProcessMixer(schedule, dtype=torch.float32)
        agent_ids = np.arange(agents)
    engine = build_engine(
        schedule, make("next"), problem, agent_ids=agent_ids, mixer=mixer, batch_size=batch, reg=Regularizer(),
        global_every=None, seed=0, dtype=torch.float32, device="cpu", init="same",
    )  # fmt: skip
    t = _time_interleaved({"step": engine.step}, **timing)["step"]
    average = engine.average()  # every layout has run the same rounds: the same model
    if rank == 0:
        Path(out).write_text(
            json.dumps(
                {
                    "step": t,
                    "rounds": engine.t,
                    "d": int(engine.X.shape[1]),
                    "average": average.tolist(),
                }
            )
        )
    dist.barrier()
    dist.destroy_process_group()


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="1e4 and 1e5 floats only, fewer training rounds"
    )
    parser.add_argument("--skip-b", action="store_true", help="Table A only")
    parser.add_argument(
        "--sizes", default=None, help="Table A floats per agent, comma-separated (e.g. 1e4,1e6)"
    )
    args = parser.parse_args()
    sizes = [10**4, 10**5] if args.quick else [10**4, 10**5, 10**6, 10**7]
    if args.sizes:
        sizes = [int(float(v)) for v in args.sizes.split(",")]
    world = 4
    began = time.perf_counter()
    print(
        f"torch {torch.__version__}, gloo, {world} processes x 1 thread on {os.cpu_count()} CPU core(s); "
        "static ring, float32"
    )
    with tempfile.TemporaryDirectory(prefix="concord-gossip-") as tmp_name:
        tmp = Path(tmp_name)
        rows = _spawn(_table_a_worker, world, tmp, "table_a", sizes, [4, 8])
        print(
            "\nTable A: one gossip round, DistributedMixer.mix vs raw torch.distributed "
            "(same peers, same bytes); ms per round, median over repeats, max over ranks"
        )
        header = (
            f"{'floats':>8} {'agents':>6} {'peers':>5} {'MB out':>7} {'mixer ms':>9} {'raw comm':>9} "
            f"{'raw+comb':>9} {'raw+comb*':>9} {'ratio':>6} {'goal':>7} {'result':>6}"
        )
        print(header)
        print("-" * len(header))
        failed = False
        for r in rows:
            ratio = r["mixer/raw+comb"]
            ok = ratio <= GOAL
            failed |= not ok
            print(
                f"{r['floats']:>8.0e} {r['agents']:>6d} {r['peers']:>5d} {r['mb_out']:>7.2f} {r['mixer'] * 1e3:>9.3f} "
                f"{r['raw'] * 1e3:>9.3f} {r['raw+comb'] * 1e3:>9.3f} {r['raw+comb*'] * 1e3:>9.3f} "
                f"{ratio:>5.2f}x {'<= 1.1x':>7} "
                f"{'PASS' if ok else 'FAIL':>6}"
            )
        print(
            "ratio = mixer / raw+comb, paired: the median over repeats of the ratio of the two\n"
            "times (slowest rank) in the same repeat, so load drifting between repeats cancels.\n"
            "raw comm: the exchange alone; raw+comb: the exchange and the same combine\n"
            "(mul/add_, no matmul) into a new tensor, as mix returns new tensors;\n"
            "raw+comb*: the same into one preallocated result (info: what a fresh result costs).\n"
            "'MB out' = bytes each rank sends per round; repeats per size: "
            f"{', '.join(str(r['repeats']) for r in rows[: len(sizes)])}."
        )
        worst = max(r["diff"] for r in rows)
        print(
            f"check: every rank's plan sends/receives the raw exchange's rows: "
            f"{all(r['same_plan'] for r in rows)}; max |mixer - raw combine| = {worst:.2e} (float32)"
        )
        if failed:
            print("Table A: a goal FAILED")

        if not args.skip_b:
            agents, batch = 16, 32
            timing = (
                dict(warmup=3, repeats=5, inner=5)
                if args.quick
                else dict(warmup=5, repeats=9, inner=10)
            )
            results = {
                p: _spawn(_table_b_worker, p, tmp, f"table_b_{p}", agents, batch, timing)
                for p in (1, 2, 4)
            }
            base = results[1]["step"]
            ref = np.asarray(results[1]["average"])
            print(
                f"\nTable B: one training round (Engine.step: gradients + NEXT update + gossip of 2 vectors), "
                f"{agents} agents, MLP on digits (d={results[1]['d']}), batch {batch}, ring; "
                f"median of {timing['repeats']} x {timing['inner']} rounds, max over ranks"
            )
            header = f"{'processes':>9} {'agents/process':>14} {'mixer':>16} {'ms/round':>9} {'speedup':>8} {'max |avg - avg(1 proc)|':>24}"
            print(header)
            print("-" * len(header))
            for p, res in results.items():
                per = "-".join(str(len(b)) for b in np.array_split(np.arange(agents), p))
                dev = float(np.abs(np.asarray(res["average"]) - ref).max())
                print(
                    f"{p:>9d} {per:>14} {'InProcessMixer' if p == 1 else 'DistributedMixer':>16} "
                    f"{res['step'] * 1e3:>9.3f} {base / res['step']:>7.2f}x {dev:>24.2e}"
                )
            print(
                f"speedup = ms/round on 1 process / ms/round here; this machine has {os.cpu_count()} core(s), "
                "so more processes than cores cannot run in parallel."
            )
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
