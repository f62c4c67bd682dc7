"""The results directory of a run and the checks on it that need neither torch nor data.

They run before torch is imported, so a finished run resumed again, or a ``--resume`` of a
directory that does not exist, answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import RunConfig

# Fields that may differ when a run is resumed.
_RESUMABLE = {"rounds", "resume", "eval_every", "checkpoint_every", "timeout", "config", "out"}


def results_dir(config: RunConfig, world: int) -> Path:
    """``--out``, or ``runs/ALGORITHM-TOPOLOGY-nAGENTS-sSEED``, with ``-pP`` appended on P > 1 processes.

    The suffix lets the README's two commands (one process, then torchrun) run one after the
    other, each into its own default directory, and keeps the name predictable: a torchrun
    restart or a ``--resume`` on the same number of processes finds the same directory.
    """
    out = config.results_dir()
    if config.out is None and world > 1:
        out = out.with_name(f"{out.name}-p{world}")
    return out


def check_directory(
    config: RunConfig, world: int, restarted: bool
) -> tuple[Path, bool, dict[str, Any] | None]:
    """The results directory, whether this is a resume, and its summary if the run already finished.

    Cheap checks only (no data, no torch work), so that a bad directory or a finished run
    answers fast. Raises ConfigError before anything is written.
    """
    out = results_dir(config, world)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory")
    previous = out / "config.json"
    if config.resume and not previous.is_file():
        what = "does not exist" if not out.exists() else "holds no run (no config.json)"
        raise ConfigError(
            f"--resume: {out} {what}; check --out, or drop --resume to start a new run"
        )
    # A torchrun restart resumes by itself, even when the crash came before config.json was written.
    resume = config.resume or restarted
    if previous.is_file() and not resume:
        raise ConfigError(
            f"{out} holds another run; pass --resume to continue it or choose another --out"
        )
    finished = None
    if resume and previous.is_file():
        old = json.loads(previous.read_text())
        changed = sorted(
            k for k, v in config.to_dict().items() if k not in _RESUMABLE and old.get(k) != v
        )
        if changed:
            raise ConfigError(
                f"--resume with a different configuration ({', '.join(changed)}); use the original values"
            )
        if old.get("processes", world) != world:
            raise ConfigError(
                f"{out} was run with {old['processes']} processes; resume with the same number (not {world})"
            )
        summary_file = out / "summary.json"
        if summary_file.is_file():
            done = json.loads(summary_file.read_text())
            if done["rounds"] > config.rounds:
                raise ConfigError(
                    f"{out} already finished {done['rounds']} rounds; --rounds {config.rounds} would not continue it, "
                    f"give --rounds > {done['rounds']}"
                )
            if done["rounds"] == config.rounds:
                finished = done
    return out, resume, finished
