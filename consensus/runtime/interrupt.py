"""Ctrl-C during the rounds: finish the round, agree on it across ranks, checkpoint it, stop.

A KeyboardInterrupt raised wherever Python happens to be would leave the ranks in different
rounds (one inside an exchange, one past it), so a checkpoint of "the current round" could not
be agreed on. Instead the first SIGINT only sets a flag; the run loop looks at it after each
round (under torchrun, all ranks take the maximum of their flags with one all-reduce), and all
ranks stop after the same round.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any


class Interrupted(Exception):
    """The run stopped on Ctrl-C after round ``round`` and checkpointed it in ``out``."""

    def __init__(self, round: int, out: Path) -> None:
        super().__init__(f"interrupted after round {round}")
        self.round = round
        self.out = out


class StopRequest:
    """A context manager that turns SIGINT into a flag while the rounds run.

    Parameters
    ----------
    distributed : bool
        Under torchrun the terminal's SIGINT reaches every worker and torchrun forwards one
        more: later signals are ignored (torchrun kills the workers if they take too long).
        In one process a second Ctrl-C aborts at once (KeyboardInterrupt).
    announce : bool
        Print one line when the first SIGINT arrives (rank 0).
    """

    def __init__(self, distributed: bool, announce: bool) -> None:
        self.requested = False
        self._distributed = distributed
        self._announce = announce
        self._previous: Any = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if not self._distributed:
                raise KeyboardInterrupt
            return
        self.requested = True
        if self._announce:
            print(
                "\nCtrl-C: stopping after this round and writing a checkpoint (Ctrl-C again to abort)",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> StopRequest:
        # signal handlers can only be set from the main thread (the API may run elsewhere).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
