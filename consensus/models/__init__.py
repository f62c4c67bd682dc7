"""Models: built-ins with a fast stacked forward, and any user ``nn.Module``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..data.datasets import Dataset
from ..errors import ConfigError
from .cnn import SmallCNN
from .layout import ParamLayout
from .linear import LinearModel
from .mlp import MLP, Activation
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


def _positive(name: str, **values: int | tuple[int, ...]) -> None:
    for key, value in values.items():
        sizes = value if isinstance(value, tuple) else (value,)
        if not sizes or min(sizes) < 1:
            shown = "-".join(map(str, sizes)) if isinstance(value, tuple) else value
            raise ConfigError(f"{name}: {key}={shown} must be positive; give e.g. {key}=16")


def linear(data: Dataset) -> nn.Module:
    """One linear layer (linear regression, or multinomial logistic regression)."""
    return LinearModel(data.num_features, data.output_dim)


def mlp(data: Dataset, hidden: tuple[int, ...] = (64,), act: Activation = "relu") -> nn.Module:
    """A multi-layer perceptron: ``hidden`` layer sizes (``hidden=128-128``) and activation ``act``."""
    _positive("mlp", hidden=hidden)
    return MLP(data.num_features, data.output_dim, hidden=hidden, activation=act)


def mlp2(
    data: Dataset, hidden: tuple[int, ...] = (128, 128), act: Activation = "relu"
) -> nn.Module:
    """``mlp`` with two hidden layers of 128 by default."""
    _positive("mlp2", hidden=hidden)
    return MLP(data.num_features, data.output_dim, hidden=hidden, activation=act)


def cnn(data: Dataset, channels: int = 8, pooled: int = 4) -> nn.Module:
    """Two convolutions (``channels``, then twice as many) and a linear head (image data only)."""
    _positive("cnn", channels=channels, pooled=pooled)
    return SmallCNN(_needs_images("cnn", data), data.output_dim, channels=channels, pooled=pooled)


def resnet(data: Dataset, depth: int = 3, channels: int = 8) -> nn.Module:
    """A residual network of ``depth`` blocks of ``channels`` channels, no normalization (image data only)."""
    _positive("resnet", depth=depth, channels=channels)
    return SmallResNet(
        _needs_images("resnet", data), data.output_dim, channels=channels, depth=depth
    )


#: Model name -> factory(dataset, **options) -> nn.Module. The factory's keyword
#: parameters are the options of a model spec (``mlp:hidden=128-128,act=tanh``),
#: resolved by :func:`topologies.specs_grammar.resolve`, the grammar of topology specs.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "linear": linear,
    "logistic": linear,
    "mlp": mlp,
    "mlp2": mlp2,
    "cnn": cnn,
    "resnet": resnet,
}


def build_model(spec: str, data: Dataset) -> nn.Module:
    """A built-in model sized for ``data``, from a spec ``NAME[:key=value,...]``.

    Examples
    --------
    >>> from consensus.data import load_dataset
    >>> net = build_model("mlp:hidden=32-16,act=tanh", load_dataset("iris"))
    >>> [tuple(layer.weight.shape) for layer in net.layers], net.activation
    ([(32, 4), (16, 32), (3, 16)], 'tanh')
    >>> build_model("mlp:hiden=32", load_dataset("iris"))
    Traceback (most recent call last):
    ...
    consensus.errors.ConfigError: mlp: unknown parameter 'hiden'; did you mean 'hidden'? accepted: hidden, act
    """
    from topologies.specs_grammar import resolve

    return resolve(
        spec,
        MODELS,
        what="model",
        error=ConfigError,
        args=(data,),
        extra="; or pass an nn.Module",
    )


__all__ = [
    "MLP",
    "MODELS",
    "Activation",
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
