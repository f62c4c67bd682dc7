"""Every option of every algorithm is a flag and a TOML field, and reaches the algorithm object."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from consensus.algorithms import ALGORITHMS
from consensus.runtime.config import RunConfig, _type_of, parse_config
from consensus.runtime.runner import _options_for

_CONFIG = {f.name: f for f in dataclasses.fields(RunConfig)}
_OPTIONS = [
    (name, f.name) for name, cls in sorted(ALGORITHMS.items()) for f in dataclasses.fields(cls)
]


def _other_value(cls: type, option: str) -> typing.Any:
    """A valid value different from the algorithm's default."""
    default = getattr(cls(), option)
    special = {"surrogate": "partial", "momentum": 0.5, "alpha0": 0.5, "eps": 0.25}
    if option in special:
        return special[option]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 2
    if isinstance(default, float):
        return default * 2 + 0.5
    raise AssertionError(f"no test value for {cls.__name__}.{option} ({default!r})")


def _flag_text(value: typing.Any, flag: str) -> list[str]:
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    return [flag, str(value)]


def _toml_text(option: str, value: typing.Any) -> str:
    if isinstance(value, bool):
        return f"{option} = {'true' if value else 'false'}\n"
    if isinstance(value, str):
        return f'{option} = "{value}"\n'
    return f"{option} = {value}\n"


@pytest.mark.parametrize(("algorithm", "option"), _OPTIONS)
def test_every_algorithm_option_is_a_flag_and_a_toml_field(
    algorithm: str, option: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cls = ALGORITHMS[algorithm]
    assert option in _CONFIG, f"RunConfig has no field for {algorithm}'s option {option!r}"
    field = _CONFIG[option]
    assert field.metadata["algorithm"], f"RunConfig.{option} is not marked algorithm=True"
    hint = typing.get_type_hints(cls)[option]
    assert _type_of(field) is hint, f"RunConfig.{option} is {field.type}, {algorithm} takes {hint}"
    assert algorithm in field.metadata["help"], f"--{option} help does not name {algorithm}"
    value = _other_value(cls, option)
    flag = "--" + option.replace("_", "-")

    from_flags = parse_config(["--algorithm", algorithm, *_flag_text(value, flag)])
    toml = tmp_path / "run.toml"
    toml.write_text(f'algorithm = "{algorithm}"\n' + _toml_text(option, value))
    from_toml = parse_config(["--config", str(toml)])

    for config in (from_flags, from_toml):
        built = cls(**_options_for(config))
        assert getattr(built, option) == value


def test_every_algorithm_flag_belongs_to_an_algorithm() -> None:
    options = {option for _, option in _OPTIONS}
    flags = {name for name, f in _CONFIG.items() if f.metadata["algorithm"]}
    assert flags == options
