"""Every docs tutorial runs as a plain script, so tutorial code is tested without Sphinx.

CI sets ``CONCORD_DOCS_RUN_TUTORIALS=1``: its docs step (Sphinx, warnings as
errors) executes every tutorial anyway, so the scripts are not run twice there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.py"))


def test_tutorials_found() -> None:
    assert TUTORIALS, "no tutorials in docs/tutorials"


@pytest.mark.timeout(300)
@pytest.mark.skipif(
    os.environ.get("CONCORD_DOCS_RUN_TUTORIALS") == "1",
    reason="the docs build of this run executes every tutorial",
)
@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
