"""The engine: one block of agents stepping through rounds with an algorithm and a mixer.

The simulator is one engine hosting every agent with an in-process mixer; a
distributed run is one engine per process with a torch.distributed mixer. The
engine never loops over agents.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial

import torch

from .algorithms.base import Algorithm, Context, State
from .errors import ConfigError
from .metrics import evaluate
from .mixers.base import Mixer
from .objective import LocalObjective
from .regularizers import Regularizer


class NonFiniteError(RuntimeError):
    """Parameters became NaN or inf."""


@dataclass
class Engine:
    """Runs rounds ``t = 0, 1, ...`` for the hosted agents.

    Parameters
    ----------
    objective : LocalObjective
        Losses and gradients of the hosted agents.
    algorithm : Algorithm
        The update rule.
    mixer : Mixer
        Communication.
    reg : Regularizer
        r(x).
    global_every : int or None
        Every this many rounds the gossip step is replaced by an exact average
        (Gossip-PGA), for every tensor the algorithm mixes.
    test : (inputs, targets) or None
        A held-out set for the metrics.
    """

    objective: LocalObjective
    algorithm: Algorithm
    mixer: Mixer
    reg: Regularizer = field(default_factory=Regularizer)
    global_every: int | None = None
    test: tuple[torch.Tensor, torch.Tensor] | None = None
    X: torch.Tensor = field(init=False)
    state: State = field(init=False)
    t: int = field(init=False, default=0)
    grad_evals: int = field(init=False, default=0)
    started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.global_every is not None and self.global_every < 1:
            raise ConfigError(f"global_every={self.global_every} must be >= 1 (or None for never)")

    def start(self, X0: torch.Tensor) -> None:
        """Set the initial parameters (rows of the hosted agents) and the algorithm state."""
        self.X = X0.clone()
        self.state = self.algorithm.init(self.X)
        self.t = 0
        self.started = time.perf_counter()

    def _context(self, t: int, batch: object) -> Context:
        is_global = self.global_every is not None and (t + 1) % self.global_every == 0
        mix = self.mixer.global_mean if is_global else partial(self.mixer.mix, t)
        return Context(
            t=t,
            mix=mix,
            global_mean=self.mixer.global_mean,
            reg=self.reg,
            n_total=self.mixer.n_total,
            oracle=self.objective,
            batch=batch,
        )

    def step(self) -> None:
        """One round: local gradients, then the algorithm's update (with its communication)."""
        t = self.t
        batch = self.objective.batch(t)
        G, _ = self.objective.gradient(self.X, batch)
        with torch.no_grad():
            X, state = self.algorithm.update(self.X, G, self.state, self._context(t, batch))
        self.grad_evals += batch.x.shape[1]
        self.X, self.state, self.t = X, state, t + 1

    def check_finite(self) -> None:
        """Raise :class:`NonFiniteError` naming the round if any parameter is NaN or inf (one global check)."""
        bad = (~torch.isfinite(self.X)).any(dim=1, keepdim=True).to(self.X.dtype)
        if float(self.mixer.global_sum(self.objective.row_sum(bad))[0]) > 0:
            raise NonFiniteError(
                f"parameters became NaN or inf at round {self.t}; lower the step size"
            )

    def metrics(self) -> dict[str, float]:
        """The evaluation metrics now, plus round, step size, bytes and gradient evaluations."""
        out = {"round": float(self.t)}
        out.update(evaluate(self.objective, self.mixer, self.X, self.reg, self.test))
        out["step_size"] = self.algorithm.step_size(self.state, self.t)
        # An agent's traffic: the sum over its stage processes (each gossips its own columns).
        sent = torch.tensor([[self.mixer.bytes_sent]], dtype=torch.float64, device=self.X.device)
        out["bytes_per_agent"] = float(self.objective.row_sum(sent)[0, 0])
        if self.objective.layer_parallel:  # between an agent's stages: the sum over its processes
            # Stage messages stack the hosted agents, so each agent's share is an equal part.
            share = self.objective.stage_bytes / self.X.shape[0]
            inner = torch.tensor([[share]], dtype=torch.float64, device=self.X.device)
            out["stage_bytes_per_agent"] = float(self.objective.row_sum(inner)[0, 0])
        for key, per_agent in self.objective.solver_metrics().items():  # mean over all agents
            total = self.mixer.global_sum(per_agent.reshape(-1, 1).to(self.X.dtype))
            out[key] = float(total[0]) / self.mixer.n_total
        out["grad_evals_per_agent"] = float(self.grad_evals)
        return {k: (v if math.isfinite(v) else float("nan")) for k, v in out.items()}

    def average(self) -> torch.Tensor:
        """The exact average of the agents' parameters, ``(d,)``."""
        return self.mixer.global_sum(self.X) / self.mixer.n_total

    def run(self, rounds: int, *, eval_every: int = 0, on_eval=None) -> list[dict[str, float]]:
        """Run ``rounds`` rounds, evaluating every ``eval_every`` (and at the end)."""
        history = []
        end = self.t + rounds
        while self.t < end:
            self.step()
            last = self.t == end
            if last or (eval_every and self.t % eval_every == 0):
                self.check_finite()
                m = self.metrics()
                m["wall_time"] = time.perf_counter() - self.started
                history.append(m)
                if on_eval is not None:
                    on_eval(m)
        return history
