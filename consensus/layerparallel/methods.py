"""Layer-parallel methods: how the stage processes of an agent cooperate, by name.

``--layer-parallel NAME[:key=value,...]`` resolves through :data:`LAYER_PARALLEL`
with the grammar, type checks and error style of topology specs. A method is a
frozen dataclass whose fields are its options: the exact ``pipeline`` and the
serial-parallel hybrid ``sph`` (:mod:`consensus.layerparallel.sph`),
multigrid in layers ``mgrit`` (:mod:`consensus.layerparallel.mgrit`) and
diversely stale parameters ``dsp`` (:mod:`consensus.layerparallel.dsp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import ConfigError
from .dsp import DSPMethod
from .mgrit import MGRITMethod
from .schedules import SCHEDULES
from .sph import SPHMethod


@dataclass(frozen=True)
class PipelineMethod:
    """The exact pipeline: ``microbatches`` micro-batches per round, GPipe or 1F1B schedule.

    The gradient is the serial one (up to the order of the micro-batch sums).

    Examples
    --------
    >>> resolve_method("pipeline:schedule=gpipe,microbatches=2")
    PipelineMethod(schedule='gpipe', microbatches=2)
    """

    name: ClassVar[str] = "pipeline"
    schedule: str = "1f1b"
    microbatches: int = 4

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"pipeline: schedule={self.schedule!r} is unknown; use one of {', '.join(SCHEDULES)}"
            )
        if self.microbatches < 1:
            raise ConfigError(f"pipeline: microbatches={self.microbatches} must be >= 1")

    def spec(self) -> str:
        """The spec string that rebuilds this method."""
        return f"{self.name}:schedule={self.schedule},microbatches={self.microbatches}"

    def check(self, split: object, input_shape: tuple[int, ...]) -> None:
        """Every split and input suit the pipeline."""


#: A layer-parallel method's options.
Method = PipelineMethod | SPHMethod | MGRITMethod | DSPMethod

#: Method name -> its options dataclass.
LAYER_PARALLEL: dict[str, type] = {
    "pipeline": PipelineMethod,
    "sph": SPHMethod,
    "mgrit": MGRITMethod,
    "dsp": DSPMethod,
}


def resolve_method(spec: str | object) -> Method:
    """A method from ``NAME[:key=value,...]`` (or a method instance, returned as is)."""
    if not isinstance(spec, str):
        return spec  # type: ignore[return-value]
    from topologies.specs_grammar import resolve  # the grammar shared with topology and model specs

    return resolve(spec, LAYER_PARALLEL, what="layer-parallel method", error=ConfigError)
