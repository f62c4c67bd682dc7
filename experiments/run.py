"""Train with Concord: ``python experiments/run.py`` or ``torchrun --nproc-per-node 4 experiments/run.py``.

Thin on purpose: everything lives in :mod:`consensus.runtime`. ``--help`` lists the flags.
"""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported: one thread per process

from consensus.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main())
