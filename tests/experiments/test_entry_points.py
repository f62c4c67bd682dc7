"""``python -m consensus`` and ``concord`` run the CLI; parsing imports nothing heavy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.experiments.test_cli import ROOT, RUN, _env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.timeout(300)

HEAVY = ("torch", "numpy", "networkx", "matplotlib", "scipy", "sklearn")

# Runs experiments/run.py as a script, then reports which heavy modules parsing imported.
PROBE = """
import json, runpy, sys
sys.argv = [{run!r}, *{args!r}]
try:
    runpy.run_path({run!r}, run_name="__main__")
except SystemExit as stop:
    code = stop.code
print(json.dumps({{"code": code, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def _probe(*args: str) -> dict[str, object]:
    code = PROBE.format(run=RUN, args=list(args), heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--help"], 0), (["--rounds", "ten"], 2), (["--bogus"], 2), (["--agents", "0"], 2)],
)
def test_help_and_bad_flags_import_no_heavy_module(args: list[str], code: int) -> None:
    assert _probe(*args) == {"code": code, "heavy": []}


def test_import_consensus_is_lazy_and_complete() -> None:
    script = (
        "import sys, consensus\n"
        "assert 'torch' not in sys.modules, 'import consensus imported torch'\n"
        "assert consensus.ConfigError.__name__ == 'ConfigError'\n"
        "assert set(consensus.__all__) <= set(dir(consensus))\n"
        "for name in consensus.__all__: getattr(consensus, name)\n"
        "assert 'torch' in sys.modules and callable(consensus.train)\n"
        "try:\n    consensus.nothing\nexcept AttributeError as err:\n    print(err)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "module 'consensus' has no attribute 'nothing'"


def test_python_m_consensus_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "consensus", "--agents", "0"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: --agents=0 must be >= 1"]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["-m", "consensus"], "usage: python -m consensus"),
        ([str(Path(__file__).resolve().parents[2] / "experiments" / "run.py")], "usage: run.py"),
    ],
)
def test_help_names_the_command_that_was_run(command: list[str], usage: str) -> None:
    proc = subprocess.run(
        [sys.executable, *command, "--help"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith(usage), proc.stdout[:80]


def test_python_m_consensus_runs_a_run(tmp_path: Path) -> None:
    args = [
        "--agents",
        "4",
        "--dataset",
        "iris",
        "--rounds",
        "4",
        "--eval-every",
        "2",
        "--out",
        "res",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "consensus", *args],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "res" / "summary.json").read_text())["rounds"] == 4
    assert "results in res" in proc.stdout


def test_concord_console_script_is_the_cli() -> None:
    from consensus.runtime import cli

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["concord"].partition(":")
    assert module == "consensus.runtime.cli" and getattr(cli, attr) is cli.main
    assert cli.main(["--agents", "0"]) == 2


@pytest.mark.skipif(
    shutil.which("concord") is None, reason="concord not installed (pip install -e .)"
)
def test_installed_concord_answers_a_bad_flag() -> None:
    proc = subprocess.run(
        ["concord", "--rounds", "ten"], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: argument --rounds: invalid int value: 'ten'"]
