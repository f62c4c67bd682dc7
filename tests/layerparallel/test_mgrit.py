"""Multigrid in layers (mgrit) in one process: TorchBraid's acceptance tests, the options, bad input.

The multi-process runs (1, 2 and 4 processes give identical results; training on
the mesh equals the simulator) are in ``tests/distributed/test_mgrit_mesh.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from consensus.api import train
from consensus.errors import ConfigError
from consensus.layerparallel import PipelineObjective, layer_parallel, resolve_method, split_model
from consensus.layerparallel.mgrit import MGRITMethod, residual_chain
from consensus.layerparallel.mgrit_objective import MGRITObjective
from consensus.layerparallel.mgrit_solver import grids
from consensus.setup import Problem, initial_parameters, local_shards, make_problem
from tests.experiments.test_cli import python_run

from .reference import serial_gradient

F64 = torch.float64
DEEP = "resnet:channels=4,depth=8"


def _problem(model: str | nn.Module = DEEP, agents: int = 2) -> tuple[Problem, torch.Tensor]:
    """Float64 parameters, different per agent (trained-looking: not the initial draw)."""
    problem = make_problem("digits", model, agents=agents, seed=0)
    X = initial_parameters(problem, np.arange(agents), init="same", seed=0, dtype=F64)
    X = X + 0.05 * torch.as_tensor(np.random.default_rng(1).normal(size=X.shape))
    return problem, X


def _objective(problem: Problem, stages: int, spec: str) -> MGRITObjective:
    plan = layer_parallel(problem.module, stages, spec)
    assert plan is not None
    shards = local_shards(problem, np.arange(problem.n), dtype=F64, device="cpu")
    objective = plan.objective(
        problem.module, problem.loss, shards, batch_size=16, seed=0, dtype=F64, device="cpu"
    )
    assert isinstance(objective, MGRITObjective)
    return objective


def _relative_error(G: torch.Tensor, ref: torch.Tensor) -> float:
    return float((G - ref).norm() / ref.norm())


def test_one_level_is_serial_propagation() -> None:
    """levels=1: the coarsest grid is the layers, solved in order: output and gradients are serial."""
    problem, X = _problem()
    objective = _objective(problem, 3, "mgrit:levels=1")
    batch = objective.batch(0)
    G, losses = objective.gradient(X, batch)
    reference = serial_gradient(problem.module, problem.loss, X, batch)
    torch.testing.assert_close(G, reference, rtol=0, atol=1e-12)
    _, serial_losses = PipelineObjective.gradient(objective, X, batch)
    torch.testing.assert_close(losses, serial_losses, rtol=0, atol=1e-12)
    assert [float(r.max()) for r in objective.solver.forward_residuals] == [0.0]


@pytest.mark.parametrize("relax", ["F", "FCF", "FCF,coarse=sum,init=nested"])
def test_three_levels_converge_to_serial_at_a_steady_rate(relax: str) -> None:
    """levels=3, cfactor=2 on 16 layers, iterated to convergence: every gradient is serial to 1e-6.

    Seen (max over agents), F: forward 2.7 1.4e-1 6.9e-3 2.2e-4 4.6e-6 6.2e-8 6.3e-10 3.1e-12
    4.5e-16 (each iteration cuts it by 19-200x, faster as exactness spreads interval by interval),
    adjoint 8.6e-4 6.1e-5 2.6e-6 ... 1.2e-20; FCF: forward 2.6 8.4e-2 1.5e-3 6.6e-6 1.8e-15
    (30-220x), adjoint 8.0e-4 3.9e-5 4.7e-7 3.1e-9 2.4e-19.
    """
    problem, X = _problem("resnet:channels=4,depth=16")
    spec = f"mgrit:levels=3,cfactor=2,relax={relax},fwd_iters=12,bwd_iters=12"
    objective = _objective(problem, 4, spec)
    batch = objective.batch(0)
    G, losses = objective.gradient(X, batch)
    reference = serial_gradient(problem.module, problem.loss, X, batch)
    for stage in split_model(problem.module, 4).stages:  # every parameter, stage by stage
        torch.testing.assert_close(G[:, stage.cols], reference[:, stage.cols], rtol=0, atol=1e-6)
    assert _relative_error(G, reference) < 1e-10
    _, serial_losses = PipelineObjective.gradient(objective, X, batch)
    torch.testing.assert_close(losses, serial_losses, rtol=0, atol=1e-10)
    for history in (objective.solver.forward_residuals, objective.solver.adjoint_residuals):
        norms = [float(r.max()) for r in history]
        converging = [r for r in norms if r > 1e-12]
        ratios = [b / a for a, b in itertools.pairwise(converging)]
        assert len(ratios) >= 3 and max(ratios) < 0.5, norms  # a steady fall, never a stall
        assert norms[-1] < 1e-12


def test_few_iterations_give_an_inexact_gradient_that_more_iterations_improve() -> None:
    problem, X = _problem("resnet:channels=4,depth=16")
    batch = None
    errors = []
    for iters in (1, 2, 4):
        objective = _objective(problem, 2, f"mgrit:fwd_iters={iters},bwd_iters={iters},relax=F")
        batch = batch or objective.batch(0)
        reference = serial_gradient(problem.module, problem.loss, X, batch)
        errors.append(_relative_error(objective.gradient(X, batch)[0], reference))
    assert errors[0] > 1e-3 and errors[0] > errors[1] > errors[2], errors


def test_tolerance_stops_the_iterations() -> None:
    problem, X = _problem()
    objective = _objective(problem, 2, "mgrit:cfactor=2,fwd_iters=20,bwd_iters=20,tol=1e-6")
    objective.gradient(X, objective.batch(0))
    forward = [float(r.max()) for r in objective.solver.forward_residuals]
    assert len(forward) < 20 and forward[-1] < 1e-6 and all(r >= 1e-6 for r in forward[:-1])


def test_coarse_grids_and_work() -> None:
    assert grids(16, 4, 3) == [list(range(17)), [0, 4, 8, 12, 16], [0, 16]]
    assert grids(7, 4, 5) == [list(range(8)), [0, 4, 7], [0, 7]]  # capped at a one-step grid
    problem, X = _problem()
    objective = _objective(problem, 2, "mgrit:levels=2,cfactor=4,fwd_iters=1,bwd_iters=1,relax=F")
    objective.gradient(X, objective.batch(0))
    # 8 steps, C-points 0 4 8. Forward: F-relax 6, residual 2, coarse rhs 2, coarse solve 2,
    # F-relax 6 = 18. Adjoint: the same 18, its last F-relax also takes the 2 C-steps = 20.
    assert objective.solver.work == (18, 20)
    # Summed coarse steps count their 4 layers each (coarse rhs 8, coarse solve 8); a nested
    # start adds one coarse solve (8).
    for spec, work in (("coarse=sum", (30, 32)), ("coarse=sum,init=nested", (38, 40))):
        spec = f"mgrit:levels=2,cfactor=4,fwd_iters=1,bwd_iters=1,relax=F,{spec}"
        objective = _objective(problem, 2, spec)
        objective.gradient(X, objective.batch(0))
        assert objective.solver.work == work, spec


def _shared_blocks(X: torch.Tensor, problem: Problem, depth: int) -> torch.Tensor:
    """``X`` with block 0's weights copied into every residual block."""
    X = X.clone()
    P = split_model(problem.module, 1).layout.views(X)
    for k in range(1, depth):
        for w in ("a.weight", "a.bias", "b.weight", "b.bias"):
            P[f"blocks.{k}.{w}"].copy_(P[f"blocks.0.{w}"])
    return X


def test_summed_coarse_steps_are_the_first_layers_step_when_the_blocks_share_weights() -> None:
    """``u + h sum_k F_k(u)`` over an interval is ``u + m h F(u)`` when every ``F_k`` is ``F``."""
    problem, X = _problem("resnet:channels=4,depth=16")
    X = _shared_blocks(X, problem, 16)
    first = _objective(problem, 4, "mgrit")
    batch = first.batch(0)
    summed = _objective(problem, 4, "mgrit:coarse=sum")
    torch.testing.assert_close(
        summed.gradient(X, batch)[0], first.gradient(X, batch)[0], rtol=0, atol=1e-12
    )
    assert (
        _relative_error(
            first.gradient(X, batch)[0], serial_gradient(problem.module, problem.loss, X, batch)
        )
        > 1e-6
    )


def test_summed_coarse_steps_and_a_nested_start_make_two_one_iterations_closer() -> None:
    """Blocks with their own weights, 2 forward / 1 adjoint iterations on 16 layers.

    Seen (relative gradient error; first forward residual): first 6.5e-4 (2.7), sum 1.7e-5
    (2.7), sum with a nested start 1.4e-6 (4.7e-2); a nested start with the first layer's
    coarse steps is worse than none (1.1e-3; 5.6): its coarse solution is a poor guess.
    """
    problem, X = _problem("resnet:channels=4,depth=16")
    errors, first_residual = {}, {}
    batch = None
    for spec in ("mgrit", "mgrit:coarse=sum", "mgrit:coarse=sum,init=nested"):
        objective = _objective(problem, 2, spec)
        batch = batch or objective.batch(0)
        G, _ = objective.gradient(X, batch)
        errors[spec] = _relative_error(G, serial_gradient(problem.module, problem.loss, X, batch))
        first_residual[spec] = float(objective.solver.forward_residuals[0].max())
    first, summed, nested = errors.values()
    assert summed < first / 10 and nested < summed / 5, errors
    assert first_residual["mgrit:coarse=sum,init=nested"] < first_residual["mgrit"] / 10


def test_serial_rounds_are_the_exact_pipeline_and_metrics_report_residuals() -> None:
    problem, X = _problem()
    objective = _objective(problem, 2, "mgrit:serial_every=3")
    for t in range(6):
        batch = objective.batch(t)
        G, _ = objective.gradient(X, batch)
        if t in (2, 5):
            torch.testing.assert_close(
                G, PipelineObjective.gradient(objective, X, batch)[0], rtol=0, atol=0
            )
    result = train(
        "ring", "dsgd", agents=2, dataset="digits", model=DEEP, rounds=3,
        batch_size=8, stages=2, layer_parallel="mgrit:fwd_iters=3,bwd_iters=2,relax=F", lr=0.05,
    )  # fmt: skip
    keys = [k for k in result.final if k.startswith("mgrit_")]
    assert sorted(keys) == sorted(
        [f"mgrit_forward_residual_{i}" for i in (1, 2, 3)]
        + [f"mgrit_adjoint_residual_{i}" for i in (1, 2)]
    )
    assert result.final["mgrit_forward_residual_1"] > result.final["mgrit_forward_residual_3"]


class ODEBlock(nn.Module):
    """A user's residual block: declares its step size and residual function."""

    concord_step_size = 0.25

    def __init__(self, width: int):
        super().__init__()
        self.lin = nn.Linear(width, width)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.concord_step_size * self.residual(x)


def _ode_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 6), *(ODEBlock(6) for _ in range(4)), nn.Linear(6, 10)
    ).double()  # fmt: skip


def test_a_user_ode_model_follows_the_protocol() -> None:
    problem, X = _problem(_ode_net())
    chain = residual_chain(split_model(problem.module, 2), (64,))
    assert chain.length == 4 and chain.state == (6,) and {s.h for s in chain.steps} == {0.25}
    objective = _objective(problem, 2, "mgrit:levels=2,cfactor=2,fwd_iters=4,bwd_iters=4")
    batch = objective.batch(0)
    G, _ = objective.gradient(X, batch)
    reference = serial_gradient(problem.module, problem.loss, X, batch)
    torch.testing.assert_close(G, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("spec", ["mgrit:levels=1,smooth=0.3", "mgrit:serial_every=1,smooth=0.3"])
def test_depth_smoothness_adds_its_exact_gradient(spec: str) -> None:
    """Exact rounds (one level; a serial round): the gradient of the loss plus ``R``, by autograd."""
    problem, X = _problem()
    objective = _objective(problem, 3, spec)
    batch = objective.batch(0)
    G, _ = objective.gradient(X, batch)
    leaf = X.clone().requires_grad_(True)
    R = objective.smoothing.value(objective.split.layout.views(leaf)).sum()
    (grad_R,) = torch.autograd.grad(R, leaf)
    reference = serial_gradient(problem.module, problem.loss, X, batch) + grad_R
    torch.testing.assert_close(G, reference, rtol=0, atol=1e-12)
    # R by hand: (0.3 / 2) sum_k ||theta_{k+1} - theta_k||^2 / h, h = 1/8 (8 blocks).
    P = objective.split.layout.views(X)
    by_hand = sum(
        float((P[f"blocks.{k + 1}.{w}"] - P[f"blocks.{k}.{w}"]).square().sum())
        for k in range(7)
        for w in ("a.weight", "a.bias", "b.weight", "b.bias")
    )
    assert float(R.detach()) == pytest.approx(0.15 * 8 * by_hand, rel=1e-12)


def test_depth_smoothness_makes_trained_weights_smooth_and_the_gradient_closer() -> None:
    """A short run with and without ``smooth``: neighbouring blocks' weights closer, gradient error lower."""
    common = {
        "topology": "complete", "algorithm": "dsgd", "agents": 1, "dataset": "digits",
        "model": "resnet:channels=4,depth=8", "rounds": 120, "batch_size": 32, "lr": 0.1,
        "momentum": 0.9, "eval_every": 0, "stages": 2, "dtype": "float64",
    }  # fmt: skip
    problem = make_problem("digits", "resnet:channels=4,depth=8", agents=1, seed=0)
    rough, errors = [], []
    for smooth in (0.0, 3e-3):
        spec = f"mgrit:smooth={smooth}"
        X = train(**common, layer_parallel=spec).X  # type: ignore[arg-type]
        P = split_model(problem.module, 1).layout.views(X)
        rough.append(
            sum(
                float((P[f"blocks.{k + 1}.b.weight"] - P[f"blocks.{k}.b.weight"]).norm())
                for k in range(7)
            )
        )
        objective = _objective(problem, 2, "mgrit:cfactor=2,fwd_iters=1,bwd_iters=1")
        batch = objective.batch(0)
        G, _ = objective.gradient(X, batch)
        errors.append(_relative_error(G, serial_gradient(problem.module, problem.loss, X, batch)))
    assert rough[1] < 0.5 * rough[0], rough
    assert errors[1] < errors[0], errors


def test_options_round_trip() -> None:
    m = resolve_method(
        "mgrit:levels=3,cfactor=2,relax=F,tol=1e-4,serial_every=5,smooth=0.01,coarse=sum,init=nested"
    )
    assert isinstance(m, MGRITMethod) and resolve_method(m.spec()) == m


@pytest.mark.parametrize(
    ("model", "stages", "spec", "message"),
    [
        ("mlp", 2, "mgrit", "chain of residual steps"),
        (DEEP, 2, "mgrit:cfactor=1", "cfactor=1 must be >= 2"),
        (DEEP, 2, "mgrit:relax=FF", "relax='FF' is not one of F, FCF"),
        (DEEP, 2, "mgrit:fwd_iters=0", "fwd_iters=0 must be >= 1"),
        (DEEP, 2, "mgrit:smooth=-1", "smooth=-1 must be >= 0"),
        (DEEP, 2, "mgrit:coarse=last", "coarse='last' is not one of first, sum"),
        (DEEP, 2, "mgrit:init=zero", "init='zero' is not one of copy, nested"),
    ],
)
def test_bad_mgrit_input_in_python(model: str, stages: int, spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        train(
            "ring", "dsgd", agents=2, dataset="digits", model=model, rounds=1, stages=stages,
            layer_parallel=spec,
        )  # fmt: skip


class WideODEBlock(ODEBlock):
    """An ODE block with a hidden layer: blocks of one state width can differ in parameters."""

    def __init__(self, width: int, hidden: int):
        nn.Module.__init__(self)
        self.lin = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, width))


def test_depth_smoothness_needs_steps_of_one_parameter_shape() -> None:
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 6), WideODEBlock(6, 3), WideODEBlock(6, 4), nn.Linear(6, 10)
    ).double()  # fmt: skip
    problem, _ = _problem(net)
    _objective(problem, 2, "mgrit:cfactor=2")  # no regularizer: fine
    with pytest.raises(ConfigError, match="same shapes; '2' and '3' differ"):
        _objective(problem, 2, "mgrit:cfactor=2,smooth=0.1")


def test_stem_and_head_must_sit_on_the_end_stages() -> None:
    split = split_model(make_problem("digits", DEEP, agents=1, seed=0).module, 2, [1])
    residual_chain(split, (64,))  # the stem alone on stage 0: fine
    bad = split_model(_ode_net(), 3, [1, 5])  # stage 2 holds only the head: fine
    residual_chain(bad, (64,))
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 6), ODEBlock(6), nn.Linear(6, 6), ODEBlock(6))
    with pytest.raises(ConfigError, match="not one unbroken chain"):
        residual_chain(split_model(net.double(), 2), (64,))


def test_bad_mgrit_input_exits_2_with_one_line(tmp_path: Path) -> None:
    p = python_run(
        "--agents", "2", "--rounds", "2", "--model", "mlp", "--stages", "2", "--layer-parallel",
        "mgrit", "--out", "bad", cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "chain of residual steps" in lines[0], p.stderr
    assert not (tmp_path / "bad").exists()
