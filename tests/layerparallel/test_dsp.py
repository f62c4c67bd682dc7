"""Diversely stale parameters (dsp) in one process: the pattern, the gradients, counts, resume, bad input.

The multi-process mesh runs are tested in ``tests/distributed/test_dsp_mesh.py``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

import consensus
from consensus.errors import ConfigError
from consensus.layerparallel import PipelineMethod, PipelineObjective, layer_parallel
from consensus.layerparallel.dsp import DSPMethod, Lags
from consensus.layerparallel.dsp_objective import DSPObjective
from consensus.layerparallel.split import StageSplit
from consensus.losses import Loss
from consensus.objective import Batch
from consensus.setup import local_shards, make_objective, make_problem
from tests.experiments.test_cli import model, python_run

from .reference import models, random_rows, serial_gradient

F64 = torch.float64


def _setup(name: str, agents: int = 3):
    data = consensus.load_dataset("digits")
    module = models(data.num_features, data.output_dim, data.image_shape)[name]
    problem = make_problem(data, module, agents=agents, seed=1)
    shards = local_shards(problem, np.arange(agents), dtype=F64, device="cpu")
    return problem, shards


def _objective(problem, shards, stages: int, spec: str, batch_size: int = 8) -> DSPObjective:
    plan = layer_parallel(problem.module, stages, spec)
    assert plan is not None
    objective = plan.objective(
        problem.module, problem.loss, shards, batch_size=batch_size, seed=2, dtype=F64, device="cpu"
    )
    assert isinstance(objective, DSPObjective)
    return objective


def _parameters(rounds: int, d: int, seed: int = 0) -> list[torch.Tensor]:
    """A different point per round (a random walk): every gradient says at which round's parameters it was taken."""
    X = random_rows(3, d, seed=seed)
    steps = torch.as_tensor(
        np.random.default_rng(seed + 1).normal(scale=0.05, size=(rounds, *X.shape))
    )
    return [X + steps[: r + 1].sum(0) for r in range(rounds)]


# 1. The pattern and its lags.


@pytest.mark.parametrize(
    ("spec", "stages", "forward", "backward"),
    [
        ("auto", 2, (0, 1), (2, 1)),
        ("auto", 4, (0, 1, 2, 3), (6, 5, 4, 3)),
        ("0", 3, (0, 0, 0), (0, 0, 0)),  # the exact pipeline: every boundary chained
        ("5-1-0", 3, (0, 1, 1), (5, 2, 1)),  # d=4: pipelined, queued 2 rounds; d=1: forward chained
        ("3-1-1-0", 4, (0, 1, 1, 1), (3, 2, 2, 1)),
        ("2", 2, (0, 0), (2, 2)),  # the last stage backwards 2 rounds late, chained forward
    ],
)
def test_lags_give_the_pattern(spec: str, stages: int, forward: tuple, backward: tuple) -> None:
    lags = DSPMethod(staleness=spec).lags(stages)
    assert lags == Lags(forward, backward)
    assert lags.staleness == DSPMethod(staleness=spec).pattern(stages)
    for s in range(stages - 1):  # a pipelined message takes a round, a chained one none
        assert lags.forward[s + 1] - lags.forward[s] in (0, 1)
        assert lags.backward[s] - lags.backward[s + 1] >= (0 if lags.chained_backward(s) else 1)
    assert lags.backward[-1] >= lags.forward[-1]


def test_auto_is_two_per_stage_and_never_chained() -> None:
    for S in range(2, 7):
        lags = DSPMethod().lags(S)
        assert lags.staleness == tuple(2 * (S - 1 - s) for s in range(S))
        assert not any(lags.chained_forward(s) or lags.chained_backward(s) for s in range(S))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("staleness=2-4-0", "grows from stage 0 to 1"),
        ("staleness=(4,-1,0)", "has a negative entry"),
        ("staleness=x", "is not auto or whole numbers"),
        (
            "staleness=4-2",
            "has 2 entries but the agents have 3 stages; give 3 numbers, e.g. staleness=4-2-0",
        ),
        ("recompute=maybe", "recompute='maybe' is not a valid bool"),
        ("stale=1", "unknown parameter 'stale'; did you mean 'staleness'"),
    ],
)
def test_bad_patterns_are_refused_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        consensus.train(
            "ring", "dsgd", agents=2, rounds=1, batch_size=4, model="mlp:hidden=8-8", stages=3,
            layer_parallel=f"dsp:{spec}",
        )  # fmt: skip
    assert "\n" not in str(err.value)


def test_the_spec_round_trips() -> None:
    for spec in ("dsp", "dsp:staleness=(4,2,0),recompute=true", "dsp:staleness=0"):
        method = consensus.layerparallel.resolve_method(spec)
        assert consensus.layerparallel.resolve_method(method.spec()) == method


# 2. Staleness 0 is the exact pipeline.


@pytest.mark.parametrize("name", ["mlp", "resnet"])
@pytest.mark.parametrize("recompute", [True, False])
def test_staleness_zero_is_the_exact_pipeline(name: str, recompute: bool) -> None:
    """Every round: the pipeline's (and the serial) gradients and losses, to 1e-10 in float64."""
    problem, shards = _setup(name)
    for stages in (2, 4):
        dsp = _objective(problem, shards, stages, f"dsp:staleness=0,recompute={recompute}")
        pipeline = PipelineObjective(
            problem.module, problem.loss, shards, split=dsp.split, method=PipelineMethod("1f1b", 1),
            batch_size=8, seed=2,
        )  # fmt: skip
        for r, X in enumerate(_parameters(4, dsp.split.layout.dim)):
            batch = dsp.batch(r)
            G, losses = dsp.gradient(X, batch)
            G_pipe, losses_pipe = pipeline.gradient(X, pipeline.batch(r))
            torch.testing.assert_close(G, G_pipe, rtol=0, atol=1e-10)
            torch.testing.assert_close(losses, losses_pipe, rtol=0, atol=1e-10)
            torch.testing.assert_close(
                G, serial_gradient(problem.module, problem.loss, X, batch), rtol=0, atol=1e-10
            )
        assert dsp.stage_bytes == pipeline.stage_bytes > 0


@pytest.mark.parametrize("algorithm", ["dsgd", "gradient_tracking", "next"])
def test_staleness_zero_follows_the_serial_trajectory(algorithm: str) -> None:
    common = dict(
        agents=4, dataset="wine", model="mlp:hidden=16-16-16", rounds=8, batch_size=8, dtype="float64",
        seed=3, eval_every=8, global_every=5, lr=0.2,
    )  # fmt: skip
    if algorithm == "next":
        del common["lr"]
    serial = consensus.train("ring", algorithm, **common)
    dsp = consensus.train("ring", algorithm, stages=4, layer_parallel="dsp:staleness=0", **common)
    torch.testing.assert_close(dsp.X, serial.X, rtol=0, atol=1e-10)
    assert dsp.final["loss"] == pytest.approx(serial.final["loss"], rel=1e-9)


# 3. Stale patterns: each stage's gradient is the one the pattern defines.


def _reference(
    split: StageSplit,
    loss: Loss,
    lags: Lags,
    recompute: bool,
    Xs: list[torch.Tensor],
    batches: list[Batch],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per round ``(G, losses)`` from the definition, by recursion over the whole history of parameters.

    Stage ``s`` forwards batch ``k`` in round ``k + f_s`` at that round's
    parameters and backwards it in round ``k + b_s``, at that round's
    parameters (recompute) or at its forward's; the gradient in its output is
    what stage ``s + 1`` backpropagated for the same batch (the loss's on the
    last stage). No queues, no messages: a different computation of the same
    definition.
    """
    S, f, b = split.count, lags.forward, lags.backward

    def params(s: int, r: int, grad: bool) -> dict[str, torch.Tensor]:
        stage = split.stages[s]
        views = stage.layout.views(Xs[r][:, stage.cols])
        return {k: v.detach().clone().requires_grad_(grad) for k, v in views.items()}

    @cache
    def activation(s: int, k: int) -> torch.Tensor:
        if s == 0:
            return batches[k].x
        with torch.no_grad():
            return split.stages[s - 1].forward(
                params(s - 1, k + f[s - 1], False), activation(s - 1, k)
            )

    @cache
    def backward(s: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(parameter gradient, input gradient, losses) of stage ``s`` on batch ``k``."""
        p = params(s, k + (b[s] if recompute else f[s]), True)
        h = activation(s, k).detach().requires_grad_(s > 0)
        with torch.enable_grad():
            out = split.stages[s].forward(p, h)
        losses = None
        if s == S - 1:
            losses, g = loss.value_and_grad(out, batches[k].y, batches[k].w)
        else:
            g = backward(s + 1, k)[1]
        inputs = [*p.values(), h] if s > 0 else list(p.values())
        grads = torch.autograd.grad(out, inputs, g, allow_unused=True, materialize_grads=True)
        flat = torch.cat([x.reshape(x.shape[0], -1) for x in grads[: len(p)]], dim=1)
        return flat, (grads[-1] if s > 0 else torch.zeros(())), losses

    out = []
    for r, X in enumerate(Xs):
        G = torch.zeros_like(X)
        losses = torch.zeros(X.shape[0], dtype=X.dtype)
        for s, stage in enumerate(split.stages):
            if r - b[s] >= 0:
                G[:, stage.cols], _, stage_losses = backward(s, r - b[s])
                if stage_losses is not None:
                    losses = stage_losses
        out.append((G, losses))
    return out


@pytest.mark.parametrize(
    ("name", "stages", "spec"),
    [
        ("mlp", 2, "auto"),
        ("mlp", 4, "auto"),
        ("resnet", 3, "auto"),
        ("resnet", 3, "5-1-0"),  # a queued gradient and a chained forward
        ("mlp", 4, "3-1-1-0"),
        ("mlp", 2, "2"),  # the last stage backwards late: its loss at later parameters
    ],
)
@pytest.mark.parametrize("recompute", [True, False])
def test_each_stage_gets_the_gradient_the_pattern_defines(
    name: str, stages: int, spec: str, recompute: bool
) -> None:
    problem, shards = _setup(name)
    dsp = _objective(problem, shards, stages, f"dsp:staleness={spec},recompute={recompute}")
    Xs = _parameters(10, dsp.split.layout.dim)
    batches = [dsp.batch(r) for r in range(len(Xs))]
    got = [dsp.gradient(X, batch) for X, batch in zip(Xs, batches, strict=True)]
    lags = dsp.lags
    want = _reference(dsp.split, problem.loss, lags, recompute, Xs, batches)
    for r, ((G, losses), (G_ref, losses_ref)) in enumerate(zip(got, want, strict=True)):
        torch.testing.assert_close(G, G_ref, rtol=0, atol=1e-10, msg=f"round {r}")
        torch.testing.assert_close(losses, losses_ref, rtol=0, atol=1e-10, msg=f"round {r}")
        for s, stage in enumerate(dsp.split.stages):  # warm-up: zero until the first backward
            assert bool(G[:, stage.cols].abs().sum() > 0) == (r >= lags.backward[s]), (r, s)


def test_recomputation_changes_the_gradient_of_stale_stages_only() -> None:
    problem, shards = _setup("mlp")
    runs = {}
    for recompute in (True, False):
        dsp = _objective(problem, shards, 3, f"dsp:recompute={recompute}")
        Xs = _parameters(8, dsp.split.layout.dim)
        runs[recompute] = [dsp.gradient(X, dsp.batch(r))[0] for r, X in enumerate(Xs)]
    last, first = dsp.split.stages[-1].cols, dsp.split.stages[0].cols
    for r in range(8):  # the last stage (staleness 0) backwards the batch it forwards
        assert torch.equal(runs[True][r][:, last], runs[False][r][:, last])
    assert float((runs[True][7][:, first] - runs[False][7][:, first]).abs().max()) > 1e-6


# 4. Counts: no stage idles after the warm-up; the exact pipeline idles every round.


def _expected_idle(lags: Lags, rounds: int) -> int:
    """Rounds a stage has no forward or no backward (before ``b_s``) or waits for a chained message."""
    idle = 0
    for s in range(len(lags.forward)):
        for r in range(rounds):
            waits = (lags.chained_forward(s) and r >= lags.forward[s]) or (
                lags.chained_backward(s) and r >= lags.backward[s]
            )
            idle += r < lags.backward[s] or waits
    return idle


@pytest.mark.parametrize(("stages", "spec"), [(2, "auto"), (4, "auto"), (3, "5-1-0"), (3, "0")])
def test_counts_from_the_run(stages: int, spec: str) -> None:
    """The run's metrics count each stage's forwards, backwards and idle rounds (summed over stages)."""
    lags = DSPMethod(staleness=spec).lags(stages)
    counts = {}
    for rounds in (lags.warmup + 1, lags.warmup + 7):
        result = consensus.train(
            "ring", "dsgd", agents=2, dataset="wine", model="mlp:hidden=8-8-8", rounds=rounds,
            batch_size=4, stages=stages, layer_parallel=f"dsp:staleness={spec}", lr=0.1, eval_every=rounds,
        )  # fmt: skip
        c = {k: result.final[f"stage_{k}"] for k in ("forwards", "backwards", "idle_steps")}
        assert c["forwards"] == stages * rounds - sum(lags.forward)
        assert c["backwards"] == stages * rounds - sum(lags.backward)
        assert c["idle_steps"] == _expected_idle(lags, rounds)
        counts[rounds] = c["idle_steps"]
    added = counts[lags.warmup + 7] - counts[lags.warmup + 1]
    if spec == "auto":  # no stage idles once the pipeline is full
        assert counts[lags.warmup + 1] == lags.idle_in_warmup() and added == 0
    if spec == "0":  # the exact pipeline: every stage waits for another every round
        assert added == 6 * stages


def test_stage_counts_per_stage() -> None:
    """Auto on 4 stages, 12 rounds: stage s idles exactly its first b_s = 6 - s rounds."""
    problem, shards = _setup("mlp")
    dsp = _objective(problem, shards, 4, "dsp")
    for r, X in enumerate(_parameters(12, dsp.split.layout.dim)):
        dsp.gradient(X, dsp.batch(r))
    assert [w.counts.idle for w in dsp.dsp_workers] == [6, 5, 4, 3]
    assert [w.counts.forwards for w in dsp.dsp_workers] == [12, 11, 10, 9]
    assert [w.counts.backwards for w in dsp.dsp_workers] == [6, 7, 8, 9]


def test_stage_bytes_count_each_message_once() -> None:
    """Per boundary: one activation per forward of the stage before it, one gradient per backward after it."""
    problem, shards = _setup("resnet")
    dsp = _objective(problem, shards, 3, "dsp")
    R = 9
    for r, X in enumerate(_parameters(R, dsp.split.layout.dim)):
        dsp.gradient(X, dsp.batch(r))
    from consensus.layerparallel.mesh import boundary_shapes

    shapes = boundary_shapes(dsp.split, tuple(shards.X.shape[2:]))
    lags = dsp.lags
    expected = 0
    for s in range(2):  # boundary s | s+1
        size = 3 * 8 * int(np.prod(shapes[s + 1])) * 8  # agents x batch x activation x 8 bytes
        expected += size * ((R - lags.forward[s]) + (R - lags.backward[s + 1]))
    assert dsp.stage_bytes == expected


# 5. Checkpoints: the queues are the oracle's state.


@pytest.mark.parametrize("recompute", [True, False])
def test_a_restored_oracle_continues_bit_for_bit(recompute: bool) -> None:
    problem, shards = _setup("resnet")
    spec = f"dsp:staleness=5-1-0,recompute={recompute}"
    a = _objective(problem, shards, 3, spec)
    Xs = _parameters(9, a.split.layout.dim)
    for r in range(4):
        a.gradient(Xs[r], a.batch(r))
    saved = copy.deepcopy(a.state_dict())  # like a module's, it shares the live tensors
    assert saved["dsp_steps"] == 4 and len(saved["dsp"]) == 3
    assert set(saved["dsp"][0]["inputs"]) == {0, 1, 2, 3}  # staleness 5: nothing backwarded yet
    assert bool(saved["dsp"][0]["stash"]) == (not recompute)
    b = _objective(problem, shards, 3, spec)
    b.load_state_dict(copy.deepcopy(saved))
    for r in range(4, 9):
        Ga, La = a.gradient(Xs[r], a.batch(r))
        Gb, Lb = b.gradient(Xs[r], b.batch(r))
        assert torch.equal(Ga, Gb) and torch.equal(La, Lb), r
    assert b.stage_bytes == a.stage_bytes
    assert b.solver_metrics().keys() == a.solver_metrics().keys()
    for key, value in a.solver_metrics().items():
        assert torch.equal(value, b.solver_metrics()[key])


CLI = [
    "--model", "resnet:channels=4,depth=2", "--stages", "3", "--layer-parallel",
    "dsp:recompute=false", "--agents", "2", "--checkpoint-every", "1", "--dtype", "float64",
    "--batch-size", "8", "--augment", "shift",
]  # fmt: skip


def _log(p) -> str:
    return "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "it/s" not in ln)[-4000:]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resume_in_the_warmup_and_after_is_bit_identical(tmp_path: Path) -> None:
    """Resumed at round 3 (the pipeline filling: stage 0 has not backwarded yet), the same run as straight."""
    straight = python_run(*CLI, "--rounds", "8", "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, _log(straight)
    half = python_run(*CLI, "--rounds", "3", "--out", "resumed", cwd=tmp_path)
    assert half.returncode == 0, _log(half)
    ckpt = torch.load(
        tmp_path / "resumed" / "checkpoints" / "round_000003" / "rank_00000.pt", weights_only=True
    )
    oracle = ckpt["oracle"]
    assert oracle["dsp_steps"] == 3 and set(oracle["dsp"][0]["stash"]) == {0, 1, 2}
    rest = python_run(*CLI, "--rounds", "8", "--out", "resumed", "--resume", cwd=tmp_path)
    assert rest.returncode == 0, _log(rest)
    assert "resumed from the checkpoint of round 3" in rest.stdout
    a, b = model(tmp_path / "straight"), model(tmp_path / "resumed")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    lines = [
        json.loads((tmp_path / d / "metrics.jsonl").read_text().splitlines()[-1])
        for d in ("straight", "resumed")
    ]
    for line in lines:
        del line["wall_time"]
    assert lines[0] == lines[1] and lines[0]["round"] == 8
    assert lines[0]["stage_idle_steps"] == DSPMethod().lags(3).idle_in_warmup()


@pytest.mark.timeout(300)
def test_a_bad_pattern_exits_2_with_one_line(tmp_path: Path) -> None:
    p = python_run(
        "--agents", "2", "--rounds", "2", "--model", "mlp:hidden=8-8", "--stages", "3",
        "--layer-parallel", "dsp:staleness=4-2", "--out", "bad", cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 2, _log(p)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "has 2 entries but the agents have 3 stages" in lines[0], p.stderr
    assert not (tmp_path / "bad").exists()


def test_the_metrics_are_exact_passes() -> None:
    """Evaluation (training=False) is the exact pipeline's, and leaves the DSP queues alone."""
    problem, shards = _setup("mlp")
    dsp = _objective(problem, shards, 3, "dsp")
    X = random_rows(3, dsp.split.layout.dim)
    dsp.gradient(X, dsp.batch(0))
    before = copy.deepcopy(dsp.state_dict())
    full = Batch(*shards.full_batch())
    G, _ = dsp.gradient(X, full, training=False)
    plain = make_objective(problem, shards, batch_size=8, seed=2)
    torch.testing.assert_close(G, plain.gradient(X, full, training=False)[0], rtol=0, atol=1e-10)
    after = dsp.state_dict()
    assert after["dsp_steps"] == before["dsp_steps"] == 1
    assert [set(w["inputs"]) for w in after["dsp"]] == [set(w["inputs"]) for w in before["dsp"]]
