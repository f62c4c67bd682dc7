"""``python -m consensus``: the same command line as ``experiments/run.py`` and ``concord``."""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported: one thread per process

from consensus.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main())
