"""The command line: parse, run, and turn every expected failure into one line and an exit code.

Parsing needs neither torch nor NumPy: they are imported only once the flags are known to be
good, so ``--help`` and a mistyped flag answer at once.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .config import RunConfig

#: Exit codes.
EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_PEER_FAILED, EXIT_INTERRUPTED = 2, 3, 4, 130


def _say(message: str) -> None:
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"error: {message}", file=sys.stderr, flush=True)


def _under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def resume_command(argv: list[str], out: Path) -> str:
    """The command that continues this run: the same launcher and flags, ``--out DIR --resume``."""
    script = sys.argv[0]
    name = os.path.basename(script)
    if name == "__main__.py":
        program = ["python", "-m", "consensus"]
    elif name in ("concord", "concord.exe"):
        program = ["concord"]
    else:
        program = ["python", script]
    if _under_torchrun():
        env = os.environ
        nodes = int(env.get("GROUP_WORLD_SIZE", 1))
        per_node = env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])
        launcher = ["torchrun"] + (["--standalone"] if nodes == 1 else [f"--nnodes={nodes}"])
        launcher += ["--nproc-per-node", per_node]
        # torchrun starts python itself; a console script needs --no-python
        program = (
            [*launcher, "--no-python", *program]
            if program == ["concord"]
            else [*launcher, *program[1:]]
        )
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not (arg == "--resume" or arg.startswith("--out=")):
            args.append(arg)
    return shlex.join([*program, *args, "--out", str(out), "--resume"])


def _parse(argv: list[str]) -> RunConfig:
    """The RunConfig; under torchrun the ranks agree first (a TOML file may be missing on one node)."""
    from .config import parse_config

    try:
        config, error = parse_config(argv), None
    except ConfigError as err:
        config, error = None, err
    if _under_torchrun():
        from . import agree

        agree.check("parse", error)
    elif error is not None:
        raise error
    assert config is not None
    return config


def _finished(config: RunConfig) -> bool:
    """True (and says so) when ``--resume`` names a run that already did ``--rounds``: no work, no torch."""
    from . import results
    from .directory import check_directory

    env = os.environ
    world = int(env.get("WORLD_SIZE", 1)) if _under_torchrun() else 1
    restarted = int(env.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0
    try:
        (out, _, done), error = check_directory(config, world, restarted), None
    except ConfigError as err:
        done, error = None, err
    if _under_torchrun():
        from . import agree

        agree.check("directory", error, config.timeout)
    elif error is not None:
        raise error
    if done is None:
        return False
    if int(env.get("RANK", 0)) == 0:
        print(
            f"{out} already finished its {done['rounds']} rounds: nothing to do "
            f"(give --rounds > {done['rounds']} to continue it)\n{results.format_summary(done, out)}",
            flush=True,
        )
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``experiments/run.py``, ``python -m consensus`` and ``concord``; returns the exit code."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        config = _parse(args)
        if _finished(config):
            return 0
    except ConfigError as err:
        _say(str(err))
        return EXIT_BAD_INPUT

    from topologies import TopologyError

    from ..engine import NonFiniteError
    from .directory import results_dir
    from .interrupt import Interrupted
    from .launch import detect
    from .runner import run

    try:
        run(config)
    except (ConfigError, TopologyError) as err:
        _say(str(err))
        return EXIT_BAD_INPUT
    except NonFiniteError as err:
        _say(f"{err}; the last good checkpoint is kept")
        return EXIT_DIVERGED
    except Interrupted as err:
        _say(f"interrupted; resume with: {resume_command(args, err.out)}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        out = results_dir(config, detect().world)
        if (out / "config.json").is_file():
            _say(f"interrupted; resume from the last checkpoint with: {resume_command(args, out)}")
        else:
            _say("interrupted before the first round; nothing was written")
        return EXIT_INTERRUPTED
    except Exception as err:
        from ..mixers.distributed import ExchangeTimeout

        if isinstance(err, ExchangeTimeout):
            _say(str(err))
            return EXIT_PEER_FAILED
        raise
    return 0
