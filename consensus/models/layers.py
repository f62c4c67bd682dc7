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


def linear_backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    grad_weight: torch.Tensor,
    grad_bias: torch.Tensor | None,
    *,
    input_grad: bool = True,
) -> torch.Tensor | None:
    """Backward of :func:`linear`: writes the parameter gradients, returns the input's.

    ``grad_out`` is ``(n, B, out)``; ``grad_weight`` ``(n, out, in)`` and
    ``grad_bias`` ``(n, out)`` are filled in place (they may be strided views
    into a flat gradient). Returns ``grad_out @ W`` ``(n, B, in)``, or None
    when ``input_grad`` is False (the first layer).
    """
    if grad_weight.is_contiguous():
        torch.bmm(grad_out.transpose(1, 2), x, out=grad_weight)
    else:  # a strided out= runs one GEMM per agent: a batched GEMM and a copy are faster
        grad_weight.copy_(torch.bmm(grad_out.transpose(1, 2), x))
    if grad_bias is not None:
        torch.sum(grad_out, 1, out=grad_bias)
    return torch.bmm(grad_out, weight) if input_grad else None


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
