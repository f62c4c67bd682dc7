"""Cutting a model into S contiguous stages whose parameters are contiguous columns.

Stage ``s`` of every agent is ``X[:, stage.cols]``: the stage's parameters are
a contiguous range of the flat layout (:class:`~consensus.models.ParamLayout`),
so a process hosting stage ``s`` keeps only those columns, and every
column-separable algorithm runs on them unchanged.

Without explicit split points the layers are grouped so that the largest
stage has as few parameters as possible (balanced by parameter count).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from ..errors import ConfigError
from ..models.layout import ParamLayout
from .layers import Layer, layers_of


@dataclass(frozen=True)
class Stage:
    """One stage: its layers, its columns of the flat layout, and the layout of its own columns."""

    index: int
    layers: tuple[Layer, ...]
    cols: slice
    layout: ParamLayout

    @property
    def dim(self) -> int:
        """Number of parameters of this stage."""
        return self.cols.stop - self.cols.start

    def forward(self, params: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """The stage for every agent: ``params`` keyed by full names, ``h`` ``(n, B, ...)``."""
        for layer in self.layers:
            h = layer.forward(params, h)
        return h


@dataclass(frozen=True)
class StageSplit:
    """A model cut into stages.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> split = split_model(net, 2)
    >>> [s.cols for s in split.stages], split.layer_names()
    ([slice(0, 72, None), slice(72, 162, None)], [['0'], ['2', '4']])
    """

    stages: tuple[Stage, ...]
    layout: ParamLayout

    @property
    def count(self) -> int:
        """Number of stages S."""
        return len(self.stages)

    def layer_names(self) -> list[list[str]]:
        """The layers of each stage, by name."""
        return [[layer.name for layer in s.layers] for s in self.stages]

    @cached_property
    def cut_points(self) -> list[int]:
        """Layer indices where stages 1..S-1 begin (the split points that rebuild this split)."""
        counts = [len(s.layers) for s in self.stages]
        return [sum(counts[:k]) for k in range(1, len(counts))]

    def describe(self) -> list[dict[str, object]]:
        """Per stage: layers, columns and parameter count (for config.json)."""
        return [
            {"layers": [layer.name for layer in s.layers], "columns": [s.cols.start, s.cols.stop],
             "parameters": s.dim}
            for s in self.stages
        ]  # fmt: skip


def _balanced_cuts(sizes: Sequence[int], stages: int) -> list[int]:
    """Cut points (layer indices where stages 1..S-1 start) minimizing the largest stage (DP)."""
    L = len(sizes)
    prefix = [0]
    for s in sizes:
        prefix.append(prefix[-1] + s)
    inf = float("inf")
    # best[k][j]: smallest max-stage size putting layers[:j] into k stages; cut[k][j] its last cut.
    best = [[inf] * (L + 1) for _ in range(stages + 1)]
    cut = [[0] * (L + 1) for _ in range(stages + 1)]
    best[0][0] = 0
    for k in range(1, stages + 1):
        for j in range(k, L + 1):
            for i in range(k - 1, j):
                cost = max(best[k - 1][i], prefix[j] - prefix[i])
                if cost < best[k][j]:
                    best[k][j], cut[k][j] = cost, i
    cuts, j = [], L
    for k in range(stages, 1, -1):
        j = cut[k][j]
        cuts.append(j)
    return sorted(cuts)


def _check_points(points: Sequence[int], layers: int, stages: int) -> list[int]:
    points = [int(p) for p in points]
    if len(points) != stages - 1:
        raise ConfigError(
            f"{len(points)} split points make {len(points) + 1} stages but --stages is {stages}; "
            f"give {stages - 1} points or --stages {len(points) + 1}"
        )
    if any(b <= a for a, b in itertools.pairwise(points)):
        raise ConfigError(
            f"split points {','.join(map(str, points))} are not increasing; give e.g. 1,2"
        )
    if points and (points[0] < 1 or points[-1] > layers - 1):
        raise ConfigError(
            f"split points {','.join(map(str, points))} are out of range: the model has {layers} layers, "
            f"so points must lie in 1..{layers - 1}"
        )
    return points


def split_model(
    model: nn.Module, stages: int, split_points: Sequence[int] | None = None
) -> StageSplit:
    """Cut ``model`` into ``stages`` stages (balanced by parameter count, or at ``split_points``).

    ``split_points`` are layer indices where stages 1..S-1 begin (layers as
    :func:`~consensus.layerparallel.layers.layers_of` counts them: the ones
    with parameters). Raises :class:`ConfigError` for a model with fewer
    layers than stages, bad split points, or a parameter used by two stages.
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ConfigError(f"stages={stages!r} must be a positive integer")
    layout = ParamLayout.of(model)
    layers = layers_of(model)
    if stages > len(layers):
        raise ConfigError(
            f"--stages {stages} but {type(model).__name__} has only {len(layers)} layers with parameters; "
            f"use --stages <= {len(layers)}"
        )
    size_of = dict(zip(layout.names, layout.sizes, strict=True))
    known = set(layout.names)
    for layer in layers:
        missing = [p for p in layer.params if p not in known]
        if missing:
            raise ConfigError(f"layer {layer.name!r} names unknown parameter {missing[0]!r}")
    if split_points is None:
        cuts = _balanced_cuts([sum(size_of[p] for p in lay.params) for lay in layers], stages)
    else:
        cuts = _check_points(split_points, len(layers), stages)
    bounds = [0, *cuts, len(layers)]
    owner: dict[str, int] = {}
    for s in range(stages):
        for layer in layers[bounds[s] : bounds[s + 1]]:
            for p in layer.params:
                if owner.setdefault(p, s) != s:
                    raise ConfigError(
                        f"parameter {p!r} is used by stages {owner[p]} and {s}; shared parameters cannot be "
                        "split: choose split points that keep its users in one stage"
                    )
    unused = [p for p in layout.names if p not in owner]
    if unused:
        raise ConfigError(
            f"parameter {unused[0]!r} belongs to no layer; the layers must cover every parameter"
        )
    index = {name: k for k, name in enumerate(layout.names)}
    out = []
    for s in range(stages):
        ks = sorted(index[p] for p, o in owner.items() if o == s)
        if ks != list(range(ks[0], ks[-1] + 1)):
            raise ConfigError(
                f"the parameters of stage {s} are not contiguous in the model's parameter order; "
                "register the layers' parameters in forward order"
            )
        start = layout.offsets[ks[0]]
        stop = layout.offsets[ks[-1]] + layout.sizes[ks[-1]]
        sub = ParamLayout(
            tuple(layout.names[k] for k in ks),
            tuple(layout.shapes[k] for k in ks),
            tuple(layout.offsets[k] - start for k in ks),
            stop - start,
        )
        out.append(Stage(s, tuple(layers[bounds[s] : bounds[s + 1]]), slice(start, stop), sub))
    return StageSplit(tuple(out), layout)
