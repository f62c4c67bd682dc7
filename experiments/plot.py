"""Overlay several runs: ``python experiments/plot.py RUN_DIR [RUN_DIR ...] [-o compare.png]``."""

import argparse
import sys
from pathlib import Path

from consensus.runtime.results import plot_runs, read_metrics


def main(argv: list[str] | None = None) -> int:
    """Write one PNG with loss, accuracy and consensus error against rounds and bytes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="results directories written by run.py")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("compare.png"), help="the PNG to write"
    )
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.runs if not read_metrics(r)]
    if missing:
        print(
            f"error: no metrics.jsonl in {', '.join(missing)}; give results directories of run.py",
            file=sys.stderr,
        )
        return 2
    plot_runs(args.runs, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
