"""Models: built-ins with a fast stacked forward, and any user ``nn.Module``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..data.datasets import Dataset
from ..errors import ConfigError
from .cnn import SmallCNN
from .layout import ParamLayout
from .linear import LinearModel
from .mlp import MLP
from .resnet import SmallResNet
from .stacked import (
    StackedForward,
    StackedGradient,
    check_stackable,
    stacked_forward,
    stacked_gradient,
)


def _needs_images(name: str, data: Dataset) -> tuple[int, ...]:
    if data.image_shape is None:
        raise ConfigError(
            f"model {name!r} needs image data (e.g. --dataset digits); {data.name} has flat features"
        )
    return data.image_shape


#: Model name -> factory(dataset) -> nn.Module.
MODELS: dict[str, Callable[[Dataset], nn.Module]] = {
    "linear": lambda d: LinearModel(d.num_features, d.output_dim),
    "logistic": lambda d: LinearModel(d.num_features, d.output_dim),
    "mlp": lambda d: MLP(d.num_features, d.output_dim, hidden=(64,)),
    "mlp2": lambda d: MLP(d.num_features, d.output_dim, hidden=(128, 128)),
    "cnn": lambda d: SmallCNN(_needs_images("cnn", d), d.output_dim),
    "resnet": lambda d: SmallResNet(_needs_images("resnet", d), d.output_dim),
}


def build_model(name: str, data: Dataset) -> nn.Module:
    """A built-in model sized for ``data``."""
    if name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; known: {', '.join(MODELS)}, or pass an nn.Module"
        )
    return MODELS[name](data)


__all__ = [
    "MLP",
    "MODELS",
    "LinearModel",
    "ParamLayout",
    "SmallCNN",
    "SmallResNet",
    "StackedForward",
    "StackedGradient",
    "build_model",
    "check_stackable",
    "stacked_forward",
    "stacked_gradient",
]
