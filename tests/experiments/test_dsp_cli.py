"""dsp from the command line under torchrun: the mesh equals the simulator, a killed stage process resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consensus.layerparallel.dsp import DSPMethod

from .test_cli import assert_same_model, python_run, torchrun

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

ARGS = [
    "--agents", "4", "--model", "resnet:channels=4,depth=2", "--rounds", "10", "--eval-every", "5",
    "--batch-size", "16", "--dtype", "float64", "--stages", "2", "--layer-parallel", "dsp",
    "--augment", "shift", "--algorithm", "gradient_tracking", "--lr", "0.05",
]  # fmt: skip


def _log(p) -> str:
    return "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "it/s" not in ln)[-4000:]


def _last(folder: Path) -> dict:
    return json.loads(folder.joinpath("metrics.jsonl").read_text().splitlines()[-1])


def test_dsp_mesh_run_equals_the_simulator(tmp_path: Path) -> None:
    """2 blocks x 2 stages: the simulator's model, traffic and counts (no idle round after the warm-up)."""
    sim = python_run(*ARGS, "--out", "sim", cwd=tmp_path)
    assert sim.returncode == 0, _log(sim)
    mesh = torchrun(4, *ARGS, "--out", "mesh", cwd=tmp_path)
    assert mesh.returncode == 0, _log(mesh)
    assert_same_model(tmp_path / "sim", tmp_path / "mesh", 1e-10)
    a, b = _last(tmp_path / "sim"), _last(tmp_path / "mesh")
    for key in ("stage_bytes_per_agent", "stage_forwards", "stage_backwards", "stage_idle_steps"):
        assert b[key] == a[key], key
    assert a["stage_idle_steps"] == DSPMethod().lags(2).idle_in_warmup() == 3
    assert a["stage_backwards"] == 2 * 10 - 3
    config = json.loads((tmp_path / "mesh" / "config.json").read_text())
    assert config["mesh"]["method"] == "dsp:staleness=auto,recompute=false"


def test_a_killed_stage_process_resumes_as_if_uninterrupted(tmp_path: Path) -> None:
    """One agent block of 2 stages with a queued gradient (staleness 3-0); stage 1 dies in round 5.

    torchrun restarts both processes from the checkpoint of round 4, whose queues hold batches
    in flight: the run ends with the uninterrupted run's model and metrics.
    """
    args = [
        *ARGS[: ARGS.index("--layer-parallel")], "--layer-parallel", "dsp:staleness=3-0",
        "--agents", "2", "--rounds", "8", "--eval-every", "4", "--checkpoint-every", "2",
    ]  # fmt: skip
    clean = torchrun(2, *args, "--out", "clean", cwd=tmp_path)
    assert clean.returncode == 0, _log(clean)
    killed = torchrun(2, *args, "--out", "killed", cwd=tmp_path, restarts=1, CONCORD_FAULT="5:1")
    assert killed.returncode == 0, _log(killed)
    assert "resumed from the checkpoint of round 4" in killed.stdout + killed.stderr
    assert_same_model(tmp_path / "clean", tmp_path / "killed", 0.0)
    a, b = _last(tmp_path / "clean"), _last(tmp_path / "killed")
    del a["wall_time"], b["wall_time"]
    assert a == b and a["round"] == 8
