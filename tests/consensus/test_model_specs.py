"""Models take parameters with the grammar and error style of topology specs."""

from __future__ import annotations

import pytest
from torch import nn

import consensus
from consensus.models import build_model
from consensus.runtime.config import parse_config

DIGITS = consensus.load_dataset("digits")


def test_mlp_spec_sets_layers_and_activation() -> None:
    net = build_model("mlp:hidden=128-128-128,act=tanh", DIGITS)
    shapes = [tuple(layer.weight.shape) for layer in net.layers]  # type: ignore[union-attr]
    assert shapes == [(128, 64), (128, 128), (128, 128), (10, 128)]
    assert net.activation == "tanh"


def test_resnet_and_cnn_specs() -> None:
    resnet = build_model("resnet:depth=8,channels=16", DIGITS)
    assert len(resnet.blocks) == 8 and resnet.stem.out_channels == 16  # type: ignore[union-attr,arg-type]
    cnn = build_model("cnn:channels=16", DIGITS)
    assert cnn.conv1.out_channels == 16 and cnn.conv2.out_channels == 32  # type: ignore[union-attr]
    assert isinstance(build_model("mlp", DIGITS), nn.Module)  # a bare name keeps its defaults


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mpl", "unknown model 'mpl'; did you mean 'mlp'? known: cnn, linear, logistic, mlp"),
        (
            "mlp:hiden=32",
            "mlp: unknown parameter 'hiden'; did you mean 'hidden'? accepted: hidden, act",
        ),
        (
            "mlp:hidden=wide",
            "mlp: parameter hidden='wide' is not a valid tuple of ints; give e.g. hidden=64",
        ),
        ("mlp:hidden=64--64", "is not a valid tuple of ints"),
        ("mlp:act=gelu", "mlp: parameter act='gelu' is not one of relu, tanh, sigmoid"),
        ("mlp:act=tahn", "did you mean 'tanh'?"),
        (
            "cnn:channels=1.5",
            "cnn: parameter channels='1.5' is not a valid int; give e.g. channels=8",
        ),
        ("cnn:channels=0", "cnn: channels=0 must be positive"),
        ("mlp:hidden=64-0", "mlp: hidden=64-0 must be positive"),
        ("resnet:depth", "resnet: parameter 'depth' is not key=value"),
        ("resnet:depth=2,depth=3", "parameter 'depth' is given twice"),
        ("linear:width=3", "linear: unknown parameter 'width'; accepted: none"),
    ],
)
def test_bad_model_specs_say_what_and_how_to_fix(spec: str, message: str) -> None:
    with pytest.raises(consensus.ConfigError) as info:
        build_model(spec, DIGITS)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_model_specs_reach_training_from_the_cli_and_the_api() -> None:
    config = parse_config(["--model", "mlp:hidden=16-16,act=tanh", "--dataset", "wine"])
    assert config.model == "mlp:hidden=16-16,act=tanh"
    result = consensus.train(
        "ring", "gradient_tracking", agents=4, dataset="wine", model=config.model, rounds=60,
        lr=0.2, eval_every=60,
    )  # fmt: skip
    assert [tuple(p.shape) for p in result.model.parameters()][::2] == [(16, 13), (16, 16), (3, 16)]
    assert result.final["test_accuracy"] > 0.85


def test_cnn_on_flat_features_is_refused() -> None:
    with pytest.raises(consensus.ConfigError, match="needs image data"):
        build_model("cnn:channels=4", consensus.load_dataset("wine"))
