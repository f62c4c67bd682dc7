"""Losses on stacked outputs ``(n, B, C)``, per sample, with torch's mean-reduction conventions.

A :class:`Loss` gives the per-sample values and the gradient of the weighted
sum in the outputs. The built-ins have that gradient in closed form (no
autograd graph: it is most of a small model's backward pass); any torch loss
can be wrapped with :meth:`Loss.wrap` and is differentiated by autograd.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

PerSampleLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``(out, y, w) -> (sum_b w * loss per agent (n,), its gradient in out (n, B, C))``.
ClosedForm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
#: The same for one batch's targets and weights: ``out -> (losses, gradient)``.
OutputGrad = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy per sample: out ``(n, B, C)``, y ``(n, B)`` -> ``(n, B)``."""
    return -_log_softmax_classes(out).gather(-1, y.unsqueeze(-1)).squeeze(-1)


def _log_softmax_classes(out: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over the last dimension, computed with the classes in front of the samples.

    torch's CPU kernel over a short last dimension (ten classes) is ten times
    slower than over a middle one; the result is a transposed view, no copy
    when ``out`` is itself a transposed view (as the hand-written backward
    passes give).
    """
    return torch.log_softmax(out.transpose(-1, -2), dim=-2).transpose(-1, -2)


def cross_entropy_grad(
    out: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum_b w * CE`` per agent and its gradient ``w * (softmax(out) - onehot(y))``."""
    logp = _log_softmax_classes(out)
    target = y.unsqueeze(-1)
    losses = -(logp.gather(-1, target).squeeze(-1) * w).sum(-1)
    wc = w.unsqueeze(-1)
    return losses, logp.exp_().mul_(wc).scatter_add_(-1, target, -wc)


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(prediction - y)^2`` per sample, as in ``nn.MSELoss``: out ``(n, B, 1)`` -> ``(n, B)``."""
    return (out.squeeze(-1) - y) ** 2


def squared_error_grad(
    out: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum_b w * (out - y)^2`` per agent and its gradient ``2 w (out - y)``."""
    r = out.squeeze(-1) - y
    wr = w * r
    return (wr * r).sum(-1), (2 * wr).unsqueeze(-1)


@dataclass(frozen=True)
class Loss:
    """A per-sample loss with the gradient of its weighted sum in the outputs.

    Parameters
    ----------
    name : str
        For messages and records.
    per_sample : callable
        ``(out (n, B, C), y (n, B)) -> (n, B)``.
    curvature : float
        Bound on the second derivative in the output (step sizes of NEXT's
        inner solver).
    closed_form : callable or None
        ``(out, y, w) -> (losses (n,), grad (n, B, C))``; autograd when None.

    Examples
    --------
    >>> out, y = torch.randn(2, 5, 3), torch.randint(0, 3, (2, 5))
    >>> losses, grad = LOSSES["cross_entropy"].value_and_grad(out, y, torch.ones(2, 5))
    >>> losses.shape, grad.shape
    (torch.Size([2]), torch.Size([2, 5, 3]))
    """

    name: str
    per_sample: PerSampleLoss
    curvature: float = 1.0
    closed_form: ClosedForm | None = None

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample losses ``(n, B)``."""
        return self.per_sample(out, y)

    def value_and_grad(
        self, out: torch.Tensor, y: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sum_b w * loss`` per agent ``(n,)`` and its gradient in ``out``."""
        if self.closed_form is not None:
            return self.closed_form(out.detach(), y, w)
        with torch.enable_grad():
            o = out.detach().requires_grad_(True)
            losses = (self.per_sample(o, y) * w).sum(-1)
            (grad,) = torch.autograd.grad(losses.sum(), o)
        return losses.detach(), grad

    @classmethod
    def wrap(cls, fn: Callable[..., torch.Tensor], *, curvature: float = 1.0) -> Loss:
        """A loss from a torch-style ``fn(output (N, C), target (N,)) -> (N,)``.

        An ``nn`` loss module (``nn.CrossEntropyLoss()``, ``nn.HuberLoss()``)
        is copied with ``reduction='none'``; any other callable must return one
        value per sample. Targets of a one-output model are passed as ``(N, 1)``.

        Examples
        --------
        >>> huber = Loss.wrap(nn.HuberLoss())
        >>> huber(torch.zeros(2, 3, 1), torch.full((2, 3), 2.0)).tolist()
        [[1.5, 1.5, 1.5], [1.5, 1.5, 1.5]]
        """
        if isinstance(fn, nn.Module) and hasattr(fn, "reduction"):
            fn = copy.copy(fn)
            fn.reduction = "none"  # type: ignore[assignment]  # a str attribute of torch losses
        name = getattr(fn, "__name__", type(fn).__name__)

        def per_sample(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            flat_out = out.reshape(-1, out.shape[-1])
            target = (
                y.reshape(-1, 1) if out.shape[-1] == 1 and y.is_floating_point() else y.reshape(-1)
            )
            values = fn(flat_out, target)
            if values.numel() != y.numel():
                raise ConfigError(
                    f"loss {name} returned {values.numel()} value(s) for {y.numel()} samples; "
                    "it must give one per sample (reduction='none')"
                )
            return values.reshape(y.shape)

        return cls(name, per_sample, curvature)


#: Built-in losses by name.
LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", cross_entropy, 0.5, cross_entropy_grad),
    "mse": Loss("mse", squared_error, 2.0, squared_error_grad),
}

#: The loss a task uses by default.
DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}


def resolve_loss(
    loss: str | Loss | Callable[..., torch.Tensor] | None, task: str, dataset: str = "the dataset"
) -> Loss:
    """A :class:`Loss` from a name, a Loss, a torch loss (module or function), or None (the task's default)."""
    if loss is None:
        loss = DEFAULT_LOSS[task]
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ConfigError(
                f"unknown loss {loss!r}; known: {', '.join(LOSSES)} (the Python API also takes a torch loss)"
            )
        if loss == "cross_entropy" and task != "classification":
            raise ConfigError(
                f"cross_entropy needs class labels but {dataset} is a regression set; use loss mse"
            )
        if loss == "mse" and task == "classification":
            raise ConfigError(
                f"mse needs real-valued targets but {dataset} is a classification set; "
                "use loss cross_entropy (or pass a torch loss that takes class labels)"
            )
        return LOSSES[loss]
    if callable(loss):
        return Loss.wrap(loss)
    raise ConfigError(f"loss must be a name, a Loss or a callable, got {type(loss).__name__}")


__all__ = [
    "DEFAULT_LOSS",
    "LOSSES",
    "Loss",
    "cross_entropy",
    "resolve_loss",
    "squared_error",
]
