"""Flat parameter layout: an agent's parameters as one row of an ``(n, d)`` tensor."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ParamLayout:
    """Names, shapes and offsets of a module's parameters inside a flat vector.

    Examples
    --------
    >>> layout = ParamLayout.of(nn.Linear(3, 2))
    >>> layout.dim, [tuple(v.shape) for v in layout.views(torch.zeros(5, layout.dim)).values()]
    (8, [(5, 2, 3), (5, 2)])
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    dim: int

    @classmethod
    def of(cls, module: nn.Module) -> ParamLayout:
        """The layout of ``module.named_parameters()`` in order."""
        names, shapes, offsets, d = [], [], [], 0
        for name, p in module.named_parameters():
            names.append(name)
            shapes.append(tuple(p.shape))
            offsets.append(d)
            d += p.numel()
        return cls(tuple(names), tuple(shapes), tuple(offsets), d)

    def views(self, X: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-parameter views ``(n, *shape)`` into the rows of ``X`` (no copy)."""
        n = X.shape[0]
        parts = X.split(self.sizes, dim=1)  # one call for every parameter: this runs every round
        return {
            name: part.view(n, *shape)
            for name, part, shape in zip(self.names, parts, self.shapes, strict=True)
        }

    @functools.cached_property
    def sizes(self) -> list[int]:
        """Number of entries of each parameter, in order."""
        ends = [*self.offsets[1:], self.dim]
        return [end - start for start, end in zip(self.offsets, ends, strict=True)]

    def flatten(self, module: nn.Module) -> torch.Tensor:
        """The module's parameters as one ``(d,)`` vector."""
        return torch.cat([p.detach().reshape(-1) for _, p in module.named_parameters()])

    def load(self, module: nn.Module, x: torch.Tensor) -> nn.Module:
        """Copy the flat vector ``x`` into ``module``'s parameters; returns the module."""
        views = self.views(x.reshape(1, -1))
        with torch.no_grad():
            for name, p in module.named_parameters():
                p.copy_(views[name][0])
        return module

    def blocks(self) -> list[slice]:
        """Column slices grouping parameters by their owning module (a layer = a block)."""
        groups: dict[str, list[int]] = {}
        for name, shape, off in zip(self.names, self.shapes, self.offsets, strict=True):
            k = 1
            for s in shape:
                k *= s
            owner = name.rsplit(".", 1)[0] if "." in name else name
            groups.setdefault(owner, []).extend([off, off + k])
        return [slice(min(v), max(v)) for v in groups.values()]
