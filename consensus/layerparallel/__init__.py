"""Layer-parallel agents: a model cut into stages, each stage on its own process.

An agent may be several processes that split its layers (the ``stage``
dimension of the process mesh). This package cuts models into stages
(:func:`split_model`), names the methods by which the stages cooperate
(:data:`LAYER_PARALLEL`: the exact ``pipeline``, the serial-parallel hybrid
``sph``, multigrid in layers ``mgrit`` and diversely stale parameters
``dsp``), runs them in one process (:class:`PipelineObjective`,
:class:`SPHObjective`, :class:`MGRITObjective`, :class:`DSPObjective`: the
simulator) or one stage per process
(:class:`~consensus.layerparallel.mesh.StageObjective`,
:class:`~consensus.layerparallel.sph_mesh.SPHStageObjective`,
:class:`~consensus.layerparallel.mgrit_mesh.MGRITStageObjective`,
:class:`~consensus.layerparallel.dsp_mesh.DSPStageObjective`).
"""

from .dsp import DSPMethod
from .dsp_objective import DSPObjective
from .layers import Layer, layers_of
from .methods import LAYER_PARALLEL, PipelineMethod, resolve_method
from .mgrit import MGRITMethod
from .mgrit_objective import MGRITObjective
from .objective import PipelineObjective
from .plan import LayerParallel, layer_parallel
from .schedules import SCHEDULES, gpipe, idle_fraction, one_f_one_b
from .sph import SPHMethod
from .sph_objective import SPHObjective
from .split import Stage, StageSplit, split_model

__all__ = [
    "LAYER_PARALLEL",
    "SCHEDULES",
    "DSPMethod",
    "DSPObjective",
    "Layer",
    "LayerParallel",
    "MGRITMethod",
    "MGRITObjective",
    "PipelineMethod",
    "PipelineObjective",
    "SPHMethod",
    "SPHObjective",
    "Stage",
    "StageSplit",
    "gpipe",
    "idle_fraction",
    "layer_parallel",
    "layers_of",
    "one_f_one_b",
    "resolve_method",
    "split_model",
]
