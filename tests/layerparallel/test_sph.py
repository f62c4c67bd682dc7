"""The serial-parallel hybrid (sph) in one process: formulation, stage traffic, phases, resume, bad input.

The multi-process mesh runs of the hybrid are tested in ``tests/distributed``.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import topologies
from consensus.algorithms import make
from consensus.api import build_engine, train
from consensus.engine import Engine
from consensus.errors import ConfigError
from consensus.layerparallel import (
    LayerParallel,
    PipelineObjective,
    layer_parallel,
    resolve_method,
)
from consensus.layerparallel.mesh import boundary_shapes
from consensus.layerparallel.sph import Resampler, SPHMethod
from consensus.layerparallel.sph_objective import SPHObjective
from consensus.mixers import InProcessMixer
from consensus.regularizers import Regularizer
from consensus.setup import Problem, initial_parameters, local_shards, make_problem
from tests.experiments.test_cli import model, python_run

from .reference import serial_gradient

F64 = torch.float64


def _problem(dataset: str, module: str | nn.Module, agents: int) -> tuple[Problem, torch.Tensor]:
    """A problem, its hosted shards' initial parameters (float64, one draw for every agent)."""
    problem = make_problem(dataset, module, agents=agents, seed=0)
    X = initial_parameters(problem, np.arange(agents), init="same", seed=0, dtype=F64)
    return problem, X


def _objective(problem: Problem, stages: int, spec: str, batch_size: int = 0) -> SPHObjective:
    """The hybrid's simulator on every agent of ``problem``, built as the engine builds it."""
    plan = layer_parallel(problem.module, stages, spec)
    assert plan is not None
    shards = local_shards(problem, np.arange(problem.n), dtype=F64, device="cpu")
    objective = plan.objective(
        problem.module, problem.loss, shards, batch_size=batch_size, seed=0, dtype=F64,
        device="cpu",
    )  # fmt: skip
    assert isinstance(objective, SPHObjective)
    return objective


def _tanh_net() -> nn.Module:
    """A user model: four Linear layers with tanh between them (three stages: 1 | 1 | 2 layers)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(13, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
        nn.Linear(8, 3),
    ).double()  # fmt: skip


def _relative_error(G: torch.Tensor, ref: torch.Tensor) -> float:
    return float((G - ref).norm() / ref.norm())


def _cosine(G: torch.Tensor, ref: torch.Tensor) -> float:
    return float((G * ref).sum() / (G.norm() * ref.norm()))


# 1. The formulation: the parallel gradient against the serial one.
#
# The state step u_s <- u_s - (state_step / beta) dP/du_s is a Jacobi iteration whose
# Hessian in u_s is about beta (I + J_{s+1}^T J_{s+1}): it contracts for
# state_step < 2 / (1 + |J_{s+1}|^2). On the tanh network (3 stages) state_step=1 diverges
# (relative error 75 at beta 10, 7e3 at beta 1e3 after 50 steps); 0.3 and 0.5 converge,
# 0.5 within 50 steps (the same gradient as after 200).


def test_penalty_gradient_tends_to_the_serial_gradient_as_beta_grows() -> None:
    """With converged states the penalty gradient is the serial one up to O(1 / beta)."""
    problem, X = _problem("wine", _tanh_net(), agents=1)
    errors, cosines = [], []
    for beta in (1e1, 1e2, 1e3):
        spec = f"sph:beta={beta:g},state_step=0.5,inner_steps=50,serial_every=0"
        objective = _objective(problem, 3, spec)
        assert [len(s.layers) for s in objective.split.stages] == [1, 1, 2]
        batch = objective.batch(0)
        G, _ = objective.gradient(X, batch)
        reference = serial_gradient(problem.module, problem.loss, X, batch)
        torch.testing.assert_close(
            PipelineObjective.gradient(objective, X, batch)[0], reference, rtol=0, atol=1e-12
        )
        errors.append(_relative_error(G, reference))
        cosines.append(_cosine(G, reference))
    # seen: 8.41e-2, 8.54e-3, 8.55e-4 (beta * error = 0.84, 0.854, 0.855)
    assert errors[0] > 5 * errors[1] > 25 * errors[2], errors
    assert 0.5 < 1e3 * errors[2] < 1.5, errors
    assert cosines[-1] > 0.999, cosines
    # The states have converged: 4x the inner steps gives the same gradient.
    objective = _objective(
        problem, 3, "sph:beta=1000,state_step=0.5,inner_steps=200,serial_every=0"
    )
    batch = objective.batch(0)
    reference = serial_gradient(problem.module, problem.loss, X, batch)
    longer = _relative_error(objective.gradient(X, batch)[0], reference)
    assert longer == pytest.approx(errors[2], rel=1e-3)


def test_augmented_lagrangian_converges_to_the_serial_gradient_at_any_beta() -> None:
    """The multipliers remove the penalty's bias: at the fixed point r = 0 and mu = g."""
    problem, X = _problem("wine", _tanh_net(), agents=1)
    for beta in (1.0, 10.0):
        spec = f"sph:method=al,beta={beta:g},state_step=0.5,inner_steps=200,serial_every=0"
        objective = _objective(problem, 3, spec)
        batch = objective.batch(0)
        G, _ = objective.gradient(X, batch)
        reference = serial_gradient(problem.module, problem.loss, X, batch)
        assert _relative_error(G, reference) < 1e-12  # seen: 2e-16, 7e-16


def test_first_inner_steps_from_fresh_states() -> None:
    """Step 1: states are the forward pass (r = 0): only the last stage has a gradient, the serial one.

    Step 2 with state_step = 1 on two stages: u_1 = F_0(x) - g / beta, so stage 0's
    gradient J^T (beta r) is the backpropagated one, exactly.
    """
    problem, X = _problem("wine", _tanh_net(), agents=1)
    objective = _objective(problem, 3, "sph:beta=10,inner_steps=1,serial_every=0")
    batch = objective.batch(0)
    G, losses = objective.gradient(X, batch)
    reference = serial_gradient(problem.module, problem.loss, X, batch)
    *first, last = objective.split.stages
    assert all(bool((G[:, s.cols] == 0).all()) for s in first)
    torch.testing.assert_close(G[:, last.cols], reference[:, last.cols], rtol=0, atol=1e-12)
    torch.testing.assert_close(
        losses, PipelineObjective.gradient(objective, X, batch)[1], rtol=0, atol=1e-12
    )
    for beta in (1.0, 1e3):
        objective = _objective(
            problem, 2, f"sph:beta={beta:g},inner_steps=2,state_step=1,serial_every=0"
        )
        G, _ = objective.gradient(X, objective.batch(0))
        cols = objective.split.stages[0].cols
        torch.testing.assert_close(G[:, cols], reference[:, cols], rtol=0, atol=1e-12)
        assert _relative_error(G, reference) > 1e-1 / beta  # the last stage's is not exact


# 2-3. Stage traffic: only the neighbour states, at the reduced resolution.

RESNET = "resnet:channels=4,depth=3"


def _round_bytes(objective: SPHObjective, X: torch.Tensor, rounds: int) -> list[float]:
    out = []
    for t in range(rounds):
        before = objective.stage_bytes
        objective.gradient(X, objective.batch(t))
        out.append(objective.stage_bytes - before)
    return out


@pytest.mark.parametrize(("stages", "inner"), [(3, 2), (2, 1)])
def test_a_parallel_round_sends_only_the_neighbour_states(stages: int, inner: int) -> None:
    n, B = 2, 8
    problem, X = _problem("digits", RESNET, agents=n)
    spec = f"sph:serial_every=2,inner_steps={inner}"
    objective = _objective(problem, stages, spec, batch_size=B)
    shapes = boundary_shapes(objective.split, tuple(objective.shards.X.shape[2:]))
    inner_shapes = shapes[1:stages]
    assert all(len(s) == 3 for s in inner_shapes)  # image states
    lows = [w.out.low for w in objective.sph_workers[:-1] if w.out is not None]
    assert lows == inner_shapes  # downsample=1 keeps the resolution
    size = 8  # float64
    numel = sum(int(np.prod(s)) for s in lows)
    step = inner * 2 * n * B * numel * size  # each boundary: states forward, gradients back
    serial = 2 * n * B * sum(int(np.prod(s)) for s in inner_shapes) * size  # the pipeline's
    # phases: P(reset) P S P(reset) P S; a reset refreshes the round's states lazily, at no cost
    assert _round_bytes(objective, X, 6) == [step, step, serial, step, step, serial]


def test_downsampling_by_2_cuts_the_stage_bytes_by_4() -> None:
    problem, X = _problem("digits", RESNET, agents=2)
    sent = {}
    for factor in (1, 2):
        objective = _objective(
            problem, 3, f"sph:serial_every=0,inner_steps=2,downsample={factor}", batch_size=8
        )
        assert [w.out.low for w in objective.sph_workers[:-1] if w.out is not None] == [
            (4, 8 // factor, 8 // factor)
        ] * 2
        sent[factor] = _round_bytes(objective, X, 3)
        assert sent[factor][0] == sent[factor][1] == sent[factor][2] > 0
    assert [a / b for a, b in zip(sent[1], sent[2], strict=True)] == [4.0, 4.0, 4.0]


def test_the_resampler_restores_smooth_states() -> None:
    r = Resampler(2, (3, 8, 6), "here")
    assert r.low == (3, 4, 3)
    u = torch.randn(2, 5, 3, 8, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert r.down(u).shape == (2, 5, 3, 4, 3) and r.up(r.down(u)).shape == u.shape
    const = torch.full((2, 5, 3, 8, 6), 1.5, dtype=F64)
    torch.testing.assert_close(r.up(r.down(const)), const, rtol=0, atol=1e-15)
    torch.testing.assert_close(r.down(u).mean(), u.mean(), rtol=0, atol=1e-14)  # averages
    identity = Resampler(1, (7,), "here")
    assert identity.low == (7,) and identity.down(u) is u and identity.up(u) is u
    with pytest.raises(ConfigError, match=r"downsample=3 needs image states .* is \(3, 8, 6\)"):
        Resampler(3, (3, 8, 6), "is")


# 4. Phases, serial rounds, augmentation.


@pytest.mark.parametrize(
    ("spec", "phases", "resets"),
    [
        ("sph:serial_every=0", "PPPPPPPP", [0]),
        ("sph:serial_every=2", "PPSPPSPP", [0, 3, 6]),
        ("sph:serial_every=3,serial_rounds=2", "PPPSSPPP", [0, 5]),
        ("sph:serial_every=1,serial_rounds=1", "PSPSPSPS", [0, 2, 4, 6]),
    ],
)
def test_phases_and_resets(spec: str, phases: str, resets: list[int]) -> None:
    m = resolve_method(spec)
    assert isinstance(m, SPHMethod)
    assert "".join(m.phase(t)[0].upper() for t in range(8)) == phases
    assert [t for t in range(8) if m.resets(t)] == resets
    assert resolve_method(m.spec()) == m


def test_the_default_state_step_depends_on_the_method() -> None:
    """1 for the penalty, 0.5 for the AL (each makes the second step's gradient exact); a given one stays."""
    steps = {spec: resolve_method(spec).state_step for spec in ("sph", "sph:method=al")}
    assert steps == {"sph": 1.0, "sph:method=al": 0.5}
    explicit = resolve_method("sph:method=al,state_step=0.3")
    assert isinstance(explicit, SPHMethod) and explicit.state_step == 0.3
    assert resolve_method(explicit.spec()) == explicit


def test_beta_grows_geometrically() -> None:
    m = resolve_method("sph:beta=0.5,beta_growth=2")
    assert isinstance(m, SPHMethod)
    assert [m.beta_at(t) for t in range(4)] == [0.5, 1.0, 2.0, 4.0]
    fixed = resolve_method("sph:beta=3")
    assert isinstance(fixed, SPHMethod) and fixed.beta_at(100) == 3.0


def _engine(problem: Problem, plan: LayerParallel, augment: str | None) -> Engine:
    """The engine of every agent of ``problem`` on a ring, as train() builds it."""
    schedule = topologies.get("ring", problem.n, seed=0)
    return build_engine(
        schedule, make("dsgd", lr=0.1), problem, agent_ids=np.arange(problem.n),
        mixer=InProcessMixer(schedule, dtype=F64, device="cpu"), batch_size=8,
        reg=Regularizer.parse(None), global_every=None, seed=0, dtype=F64, device="cpu",
        init="same", layer_parallel=plan, augment=augment,
    )  # fmt: skip


def test_serial_rounds_are_the_pipeline_and_only_they_are_augmented() -> None:
    n = 3
    problem = make_problem("digits", RESNET, agents=n, seed=0)
    plan = layer_parallel(problem.module, 3, "sph:serial_every=2,microbatches=2")
    assert plan is not None and isinstance(plan.method, SPHMethod)
    engine = _engine(problem, plan, "shift:pixels=1,flip=true")
    objective, plain = engine.objective, _engine(problem, plan, None).objective
    assert isinstance(objective, SPHObjective) and objective.augment is not None
    assert plain.augment is None
    X, method = engine.X, plan.method
    for t in range(6):
        batch, raw = objective.batch(t), plain.batch(t)
        assert batch.rows is not None and raw.rows is not None
        assert torch.equal(batch.rows, raw.rows) and torch.equal(batch.y, raw.y)
        if method.phase(t) == "serial":
            assert batch.x.shape == raw.x.shape and not torch.equal(batch.x, raw.x)
            G, losses = objective.gradient(X, batch)
            reference = serial_gradient(problem.module, problem.loss, X, batch)
            torch.testing.assert_close(G, reference, rtol=0, atol=1e-12)
            expected = PipelineObjective.gradient(objective, X, batch)
            assert torch.equal(G, expected[0]) and torch.equal(losses, expected[1])
        else:
            assert torch.equal(batch.x, raw.x)
            objective.gradient(X, batch)  # keeps the states in step with the rounds
    assert [method.phase(t) for t in range(6)].count("serial") == 2
    # The metric is each agent's share of the traffic between stages.
    sent = objective.stage_bytes
    assert sent > 0 and engine.metrics()["stage_bytes_per_agent"] == sent / n


def test_a_restored_oracle_continues_bit_for_bit() -> None:
    """The states, multipliers and freshness marks in state_dict are all a round needs to go on."""
    problem, X0 = _problem("digits", RESNET, agents=2)
    drift = torch.as_tensor(np.random.default_rng(1).normal(size=X0.shape))

    def X(t: int) -> torch.Tensor:  # the parameters move from round to round, as in training
        return X0 + 1e-2 * t * drift

    spec = "sph:method=al,serial_every=3,inner_steps=2,downsample=2"
    a = _objective(problem, 3, spec)  # full batches: every round uses every sample's states
    for t in range(2):
        a.gradient(X(t), a.batch(t))
    saved = copy.deepcopy(a.state_dict())  # like a module's, it shares the live tensors
    M = a.shards.X.shape[1]
    assert saved["sph_ready"] and len(saved["sph"]) == 3
    assert saved["sph"][0]["u"].shape == saved["sph"][1]["mu"].shape == (2, M, 4, 4, 4)
    assert saved["sph"][0]["fresh"].shape == (2, M) and set(saved["sph"][2]) <= {"fresh"}
    b = _objective(problem, 3, spec)
    b.load_state_dict(copy.deepcopy(saved))
    assert b.stage_bytes == a.stage_bytes
    for t in (2, 3, 4):  # parallel, serial, parallel (a new phase)
        Ga, La = a.gradient(X(t), a.batch(t))
        Gb, Lb = b.gradient(X(t), b.batch(t))
        assert torch.equal(Ga, Gb) and torch.equal(La, Lb)
    assert b.stage_bytes == a.stage_bytes
    fresh = _objective(problem, 3, spec)  # no states: round 2 sets them from a forward pass
    restored = _objective(problem, 3, spec)
    restored.load_state_dict(copy.deepcopy(saved))
    G_fresh = fresh.gradient(X(2), fresh.batch(2))[0]
    G_restored = restored.gradient(X(2), restored.batch(2))[0]
    assert _relative_error(G_fresh, G_restored) > 1e-3


# 5. Resume from the command line, in the middle of a parallel phase.

CLI = [
    "--model", "resnet:channels=4,depth=2", "--stages", "2", "--layer-parallel",
    "sph:serial_every=2,method=al", "--augment", "shift", "--agents", "2", "--checkpoint-every",
    "1", "--dtype", "float64", "--batch-size", "16",
]  # fmt: skip


def _log(p: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "it/s" not in ln)[-4000:]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resume_in_a_parallel_phase_is_bit_identical(tmp_path: Path) -> None:
    method = resolve_method("sph:serial_every=2,method=al")
    assert isinstance(method, SPHMethod)
    # rounds 0..7: P(reset) P S P(reset) P S P(reset) P; round 4 continues round 3's states
    assert method.phase(4) == "parallel" and not method.resets(4)
    straight = python_run(*CLI, "--rounds", "8", "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, _log(straight)
    half = python_run(*CLI, "--rounds", "4", "--out", "resumed", cwd=tmp_path)
    assert half.returncode == 0, _log(half)
    ckpt = torch.load(
        tmp_path / "resumed" / "checkpoints" / "round_000004" / "rank_00000.pt", weights_only=True
    )
    oracle = ckpt["oracle"]
    assert oracle["sph_ready"] and set(oracle["sph"][0]) == {"u", "mu", "fresh"}
    assert oracle["sph"][0]["mu"].abs().max() > 0  # the multipliers have moved
    rest = python_run(*CLI, "--rounds", "8", "--out", "resumed", "--resume", cwd=tmp_path)
    assert rest.returncode == 0, _log(rest)
    assert "resumed from the checkpoint of round 4" in rest.stdout
    a, b = model(tmp_path / "straight"), model(tmp_path / "resumed")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    lines = [
        json.loads((tmp_path / d / "metrics.jsonl").read_text().splitlines()[-1])
        for d in ("straight", "resumed")
    ]
    for line in lines:
        del line["wall_time"]  # the only field that may differ
    assert lines[0] == lines[1] and lines[0]["round"] == 8
    assert lines[0]["stage_bytes_per_agent"] > 0


# 6. Bad input.

RESNET_2 = ["--model", "resnet:channels=4,depth=2", "--stages", "2"]
MLP_2 = ["--model", "mlp:hidden=16-16", "--stages", "2"]  # vector states


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([*RESNET_2, "--layer-parallel", "sph:beta=abc"], "beta='abc' is not a valid float"),
        (
            [*RESNET_2, "--layer-parallel", "sph:bta=1"],
            "unknown parameter 'bta'; did you mean 'beta'",
        ),
        ([*RESNET_2, "--layer-parallel", "sph:beta=0"], "sph: beta=0.0 must be > 0"),
        ([*RESNET_2, "--layer-parallel", "sph:beta=-1"], "sph: beta=-1.0 must be > 0"),
        ([*MLP_2, "--layer-parallel", "sph:downsample=2"], "downsample=2 needs image states"),
        (["--dataset", "wine", "--augment", "shift"], "--augment needs image data"),
    ],
)
def test_bad_sph_input_exits_2_with_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    p = python_run("--agents", "2", "--rounds", "2", *extra, "--out", "bad", cwd=tmp_path)
    assert p.returncode == 2, _log(p)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dataset": "wine", "model": "mlp", "augment": "shift"}, "--augment needs image data"),
        ({"stages": 2, "layer_parallel": "sph:downsample=2"}, "needs image states"),
        (
            {"stages": 2, "layer_parallel": "sph:state_step=1.5"},
            r"state_step=1.5 must be in \(0, 1\]",
        ),
        ({"stages": 2, "layer_parallel": "sph:method=lagrange"}, "not one of penalty, al"),
    ],
)
def test_bad_sph_input_in_python(options: dict, message: str) -> None:
    common = {"agents": 2, "rounds": 1, "batch_size": 4, "dataset": "digits", "model": "mlp"}
    with pytest.raises(ConfigError, match=message):
        train("ring", "dsgd", **{**common, **options})
