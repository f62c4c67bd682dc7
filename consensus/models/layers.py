"""Stacked building blocks: one call computes the layer for every agent."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ W^T + b`` per agent: x ``(n, B, in)``, weight ``(n, out, in)``, bias ``(n, out)``.

    One batched GEMM (the transposed view costs no copy), then the bias in
    place: ``baddbmm`` would first materialize the broadcast bias.
    """
    out = torch.bmm(x, weight.transpose(1, 2))
    return out if bias is None else out.add_(bias.unsqueeze(1))


def linear_t(xT: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """:func:`linear` with features first: xT ``(n, in, B)`` -> ``W x + b`` as ``(n, out, B)``.

    The layout of the hand-written backward passes: the GEMMs take the weights
    untransposed, and a softmax over classes runs along a non-last dimension,
    where torch's CPU kernel is fast for a handful of classes.
    """
    out = torch.bmm(weight, xT)
    return out if bias is None else out.add_(bias.unsqueeze(2))


def linear_t_backward(
    grad_out: torch.Tensor,
    xT: torch.Tensor,
    weight: torch.Tensor,
    grad_weight: torch.Tensor,
    grad_bias: torch.Tensor | None,
    *,
    input_grad: bool = True,
) -> torch.Tensor | None:
    """Backward of :func:`linear_t`: writes the parameter gradients, returns the input's.

    ``grad_out`` is ``(n, out, B)``; ``grad_weight`` ``(n, out, in)`` and
    ``grad_bias`` ``(n, out)`` are filled in place (they may be strided views
    into a flat gradient). Returns ``W^T grad_out`` ``(n, in, B)``, or None
    when ``input_grad`` is False (the first layer).
    """
    # Not bmm(out=grad_weight): a strided out= runs one GEMM per agent; a batched GEMM
    # and a copy are faster.
    grad_weight.copy_(torch.bmm(grad_out, xT.transpose(1, 2)))
    if grad_bias is not None:
        torch.sum(grad_out, 2, out=grad_bias)
    return torch.bmm(weight.transpose(1, 2), grad_out) if input_grad else None


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """Per-agent convolution as one grouped convolution.

    x ``(n, B, C, H, W)``, weight ``(n, C_out, C, k, k)``, bias ``(n, C_out)``;
    returns ``(n, B, C_out, H', W')``.
    """
    n, B, C, H, W = x.shape
    c_out = weight.shape[1]
    xg = x.permute(1, 0, 2, 3, 4).reshape(B, n * C, H, W)
    wg = weight.reshape(n * c_out, *weight.shape[2:])
    bg = None if bias is None else bias.reshape(n * c_out)
    out = F.conv2d(xg, wg, bg, stride=stride, padding=padding, groups=n)
    return out.reshape(B, n, c_out, *out.shape[-2:]).permute(1, 0, 2, 3, 4)
