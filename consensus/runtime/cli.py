"""The command line: parse, run, and turn every expected failure into one line and an exit code."""

from __future__ import annotations

import os
import sys

from ..engine import NonFiniteError
from ..errors import ConfigError

#: Exit codes.
EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_PEER_FAILED = 2, 3, 4


def _say(message: str) -> None:
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"error: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``experiments/run.py``; returns the process exit code."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from topologies import TopologyError

    from .config import parse_config
    from .runner import run

    try:
        config = parse_config(argv)
        run(config)
    except (ConfigError, TopologyError) as err:
        _say(str(err))
        return EXIT_BAD_INPUT
    except NonFiniteError as err:
        _say(f"{err}; the last good checkpoint is kept")
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        _say("interrupted; resume with --resume")
        return 130
    except Exception as err:
        from ..mixers.distributed import ExchangeTimeout

        if isinstance(err, ExchangeTimeout):
            _say(str(err))
            return EXIT_PEER_FAILED
        raise
    return 0
