"""The run configuration: one typed dataclass, spelled as command-line flags or a TOML file."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _f(default: Any, help: str, *, algorithm: bool = False, flag: bool = True) -> Any:
    return field(default=default, metadata={"help": help, "algorithm": algorithm, "flag": flag})


@dataclass
class RunConfig:
    """Everything that defines a run. Flags and ``--config file.toml`` set the same fields; flags win."""

    topology: str = _f(
        "ring",
        "topology spec: a built-in name with parameters (torus:rows=4,cols=8), a graph file, or module:function",
    )
    agents: int = _f(8, "number of agents (a graph file's node count when --topology is one)")
    algorithm: str = _f(
        "next",
        "next, gradient_tracking, dsgd, dgd, extra, nids, push_sum, local_sgd or centralized",
    )
    model: str = _f("mlp", "linear, logistic, mlp, mlp2, cnn or resnet")
    dataset: str = _f(
        "digits", "digits, breast_cancer, wine, iris or diabetes (bundled with scikit-learn)"
    )
    data: str | None = _f(
        None, "a .npz file with X and y (optionally X_test, y_test); overrides --dataset"
    )
    standardize: bool = _f(
        True,
        "scale every feature to mean 0 and variance 1 (fitted on the training rows; "
        "regression targets too); --no-standardize keeps the data as given",
    )
    test_fraction: float | None = _f(
        None,
        "fraction of the rows held out as the test set, in [0, 1); 0 = no test set and no test "
        "metrics (default 0.25, or the X_test of a .npz that has one)",
    )
    loss: str | None = _f(
        None, "cross_entropy or mse (default: cross_entropy for classification, mse for regression)"
    )
    partition: str = _f(
        "iid", "how data is split: iid, label[:K] (K label shards per agent) or dirichlet:ALPHA"
    )
    rounds: int = _f(300, "communication rounds")
    batch_size: int = _f(
        32, "samples per agent per round; 0 = each agent's whole shard (deterministic)"
    )
    # Algorithm options: one field per dataclass field of the algorithms in
    # consensus.algorithms.ALGORITHMS (None = the algorithm's default). Written out, not
    # generated, so that --help needs no torch; tests/consensus/test_config_registry.py
    # checks them against the registry.
    lr: float | None = _f(
        None,
        "step size (centralized, dgd, dsgd, extra, gradient_tracking, local_sgd, nids, push_sum; default 0.1)",
        algorithm=True,
    )
    momentum: float | None = _f(
        None, "momentum (centralized, dsgd, local_sgd; default 0.0)", algorithm=True
    )
    nesterov: bool | None = _f(
        None, "Nesterov momentum instead of heavy ball (dsgd; default off)", algorithm=True
    )
    tau: float | None = _f(
        None, "proximal weight of the surrogate (next; default 3.0)", algorithm=True
    )
    alpha0: float | None = _f(
        None, "initial convex-combination step alpha[0] (next; default 1.0)", algorithm=True
    )
    eps: float | None = _f(
        None,
        "decay alpha[t] = alpha[t-1](1 - eps alpha[t-1]) (next; default 0.0: constant)",
        algorithm=True,
    )
    surrogate: str | None = _f(
        None, "local surrogate: linear, partial or block (next; default linear)", algorithm=True
    )
    inner_steps: int | None = _f(
        None, "inner steps of the partial/block surrogate (next; default 10)", algorithm=True
    )
    power_iterations: int | None = _f(
        None,
        "power iterations sizing the inner steps of the partial/block surrogate (next; default 4)",
        algorithm=True,
    )
    workers: int | None = _f(
        None, "threads solving the block surrogate's layers (next; default 1)", algorithm=True
    )
    every: int | None = _f(
        None, "average every this many rounds (local_sgd; default 8)", algorithm=True
    )
    tracking: bool | None = _f(
        None,
        "gradient tracking (Push-DIGing); --no-tracking gives SGP (push_sum; default on)",
        algorithm=True,
    )
    reg: str = _f("none", "regularizer: none, l2:LAM, l1:LAM or elastic:L1,L2")
    global_every: int = _f(
        0, "replace gossip by an exact average every H rounds (Gossip-PGA); 0 = never"
    )
    stages: int = _f(
        1,
        "layer-parallel agents: cut each agent's model into S stages, one process each under torchrun "
        "(P/S agent blocks x S stages); in one process the stages run in turn",
    )
    layer_parallel: str = _f(
        "pipeline",
        "how an agent's stages cooperate: pipeline[:schedule=1f1b|gpipe,microbatches=M], "
        "sph[:method=penalty|al,beta=B,serial_every=K,serial_rounds=E,downsample=F,...], "
        "mgrit[:levels=L,cfactor=m,fwd_iters=I,bwd_iters=J,relax=F|FCF,coarse=first|sum,"
        "init=copy|nested,tol=T,serial_every=K,smooth=A,...] "
        "or dsp[:staleness=auto|k1-k2-...,recompute=false|true]",
    )
    split_points: str | None = _f(
        None, "layer indices where stages 1..S-1 begin, e.g. 2,5; none balances parameter counts"
    )
    augment: str = _f(
        "none",
        "augment image inputs: none or shift[:pixels=P,flip=true] (random shifts, flips), seeded "
        "per agent and round; with --layer-parallel sph only its serial rounds",
    )
    eval_every: int = _f(20, "evaluate (and log a line) every this many rounds")
    seed: int = _f(0, "seed of data split, initialisation, batches and random topologies")
    dtype: str = _f("float32", "float32 or float64")
    device: str = _f("cpu", "cpu or cuda (cuda uses nccl, one GPU per process)")
    out: str | None = _f(
        None,
        "results directory (default runs/ALGORITHM-TOPOLOGY-nAGENTS-sSEED, plus -pP on P > 1 processes)",
    )
    checkpoint_every: int = _f(
        50, "checkpoint every K rounds (0 = never); used by --resume and torchrun restarts"
    )
    resume: bool = _f(False, "continue the run in --out from its newest complete checkpoint")
    timeout: float = _f(300.0, "seconds any exchange with a peer may take before the run stops")
    init: str = _f("same", "initial parameters: same for all agents, or independent per agent")
    config: str | None = _f(
        None, "a TOML file setting any of these fields (flags given explicitly win)", flag=True
    )

    def algorithm_options(self) -> dict[str, Any]:
        """The algorithm flags that were set."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata["algorithm"] and getattr(self, f.name) is not None
        }

    def results_dir(self) -> Path:
        """The resolved results directory."""
        if self.out:
            return Path(self.out)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.topology)[:40]
        return Path("runs") / f"{self.algorithm}-{safe}-n{self.agents}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for config.json."""
        return dataclasses.asdict(self)


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _type_of(f: dataclasses.Field) -> type:
    name = str(f.type).replace(" | None", "").strip()
    return _TYPES[name]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def _program() -> str:
    """How the user started the CLI: ``run.py``, ``concord`` or ``python -m consensus`` (for usage lines)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "run.py"
    return "python -m consensus" if name == "__main__.py" else name


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from :class:`RunConfig` (defaults shown in --help)."""
    parser = _Parser(
        prog=_program(),
        description="Decentralized training with Concord. Launch with python (one process hosts all agents) "
        "or torchrun (each process hosts a block of agents).",
    )
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _type_of(f)
        if kind is bool:
            # --x/--no-x where "off" is meaningful (default on, or the algorithm's default).
            negatable = f.default is not False
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction if negatable else "store_true",
                default=argparse.SUPPRESS,
                help=f.metadata["help"]
                + (f" (default: {'on' if f.default else 'off'})" if f.default else ""),
            )
        else:
            parser.add_argument(
                flag,
                type=kind,
                default=argparse.SUPPRESS,
                metavar=f.name.upper(),
                help=f.metadata["help"]
                + ("" if f.metadata["algorithm"] else f" (default: {f.default})"),
            )
    return parser


def load_toml(path: str) -> dict[str, Any]:
    """Fields from a TOML file, checked against :class:`RunConfig`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; check the path")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"cannot parse {p}: {err}; check the TOML syntax") from None
    known = {f.name: f for f in fields(RunConfig)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in known or name == "config":
            raise ConfigError(
                f"{p}: unknown field {key!r}; fields are the long flags, e.g. topology, agents, rounds"
            )
        kind = _type_of(known[name])
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            article = "an" if kind.__name__[0] in "aeiou" else "a"
            raise ConfigError(f"{p}: {key} = {value!r} should be {article} {kind.__name__}")
        out[name] = value
    return out


def _agents_of_graph_file(config: RunConfig, *, given: bool) -> None:
    """A graph file fixes the number of agents: the default, and an explicit mismatch is an error."""
    from topologies import TopologyError, fixed_agents  # here: --help needs no networkx

    try:
        nodes = fixed_agents(config.topology)
    except TopologyError as err:
        raise ConfigError(str(err)) from None
    if nodes is None:
        return
    if not given:
        config.agents = nodes
    elif config.agents != nodes:
        raise ConfigError(
            f"--agents {config.agents} but {config.topology} has {nodes} nodes; "
            f"drop --agents (the graph file sets it) or give --agents {nodes}"
        )


def parse_config(argv: list[str] | None = None) -> RunConfig:
    """Flags over a TOML file over the defaults. Raises :class:`ConfigError` on bad input."""
    args = vars(build_parser().parse_args(argv))
    values = load_toml(args["config"]) if args.get("config") else {}
    values.update(args)
    config = RunConfig(**values)
    for name in ("agents", "rounds", "eval_every"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}={getattr(config, name)} must be >= 1")
    for name in ("batch_size", "global_every", "checkpoint_every"):
        if getattr(config, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')}={getattr(config, name)} must be >= 0")
    if config.test_fraction is not None and not 0 <= config.test_fraction < 1:
        raise ConfigError(
            f"--test-fraction={config.test_fraction} must be in [0, 1); 0 means no test set"
        )
    if config.timeout <= 0:
        raise ConfigError(f"--timeout={config.timeout} must be positive")
    # Last: it imports topologies (networkx, scipy, 1-2 s) that a bad value need not wait for.
    _agents_of_graph_file(config, given="agents" in values)
    return config
