"""experiments/run.py with --stages: the simulator, the torchrun mesh, a killed stage process, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import assert_same_model, python_run, torchrun

pytestmark = pytest.mark.timeout(900)

ARGS = [
    "--agents", "4", "--dataset", "wine", "--model", "mlp:hidden=16-16-16", "--rounds", "30",
    "--eval-every", "10", "--batch-size", "8", "--dtype", "float64", "--stages", "2",
    "--layer-parallel", "pipeline:schedule=1f1b,microbatches=2", "--topology", "link_failure:base=ring,q=0.3",
    "--global-every", "7", "--checkpoint-every", "10",
]  # fmt: skip


def _log(p) -> str:
    return "\n".join(ln for ln in (p.stdout + p.stderr).splitlines() if "it/s" not in ln)[-4000:]


@pytest.mark.distributed
def test_mesh_run_equals_the_simulator_and_survives_a_killed_stage(tmp_path: Path) -> None:
    sim = python_run(*ARGS, "--out", "sim", cwd=tmp_path)
    assert sim.returncode == 0, _log(sim)
    mesh = torchrun(4, *ARGS, "--out", "mesh", cwd=tmp_path)
    assert mesh.returncode == 0, _log(mesh)
    assert_same_model(tmp_path / "sim", tmp_path / "mesh", 1e-10)
    config = json.loads((tmp_path / "mesh" / "config.json").read_text())
    assert config["processes"] == 4 and config["stages"] == 2
    assert config["mesh"]["agent_blocks"] == 2 and config["mesh"]["dims"] == ["agent", "stage"]
    split = config["mesh"]["split"]
    assert split[0]["columns"][1] == split[1]["columns"][0]
    assert [len(s["layers"]) for s in split] == [2, 2]
    sim_metrics = (tmp_path / "sim" / "metrics.jsonl").read_text().splitlines()
    mesh_metrics = (tmp_path / "mesh" / "metrics.jsonl").read_text().splitlines()
    for a, b in zip(sim_metrics, mesh_metrics, strict=True):
        ma, mb = json.loads(a), json.loads(b)
        for key in ("loss", "consensus_error", "test_accuracy", "bytes_per_agent"):
            assert mb[key] == pytest.approx(ma[key], rel=1e-9), key
    # rank 3 is stage 1 of agent block 1: killed at round 15, restarted, resumed from round 10
    killed = torchrun(4, *ARGS, "--out", "killed", cwd=tmp_path, restarts=1, CONCORD_FAULT="15:3")
    assert killed.returncode == 0, _log(killed)
    assert "resumed from the checkpoint of round 10" in killed.stdout + killed.stderr
    assert_same_model(tmp_path / "mesh", tmp_path / "killed", 0.0)
    ckpt = sorted((tmp_path / "killed" / "checkpoints").glob("round_*/rank_*.pt"))
    assert {p.name for p in ckpt} >= {f"rank_{r:05d}.pt" for r in range(4)}  # one share per process


SPH_ARGS = [
    "--agents", "4", "--model", "resnet:channels=4,depth=2", "--rounds", "10", "--eval-every", "5",
    "--batch-size", "16", "--dtype", "float64", "--stages", "2", "--layer-parallel",
    "sph:method=al,serial_every=2", "--augment", "shift", "--checkpoint-every", "1",
]  # fmt: skip


@pytest.mark.distributed
def test_sph_mesh_run_equals_the_simulator(
    tmp_path: Path,
) -> None:
    """The hybrid under torchrun (2 blocks x 2 stages) ends with the simulator's model and traffic."""
    sim = python_run(*SPH_ARGS, "--out", "sim", cwd=tmp_path)
    assert sim.returncode == 0, _log(sim)
    mesh = torchrun(4, *SPH_ARGS, "--out", "mesh", cwd=tmp_path)
    assert mesh.returncode == 0, _log(mesh)
    assert_same_model(tmp_path / "sim", tmp_path / "mesh", 1e-10)
    last = [
        json.loads(d.joinpath("metrics.jsonl").read_text().splitlines()[-1])
        for d in (tmp_path / "sim", tmp_path / "mesh")
    ]
    assert last[1]["stage_bytes_per_agent"] == last[0]["stage_bytes_per_agent"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stages", "9"], "only 4 layers"),
        (["--model", "logistic"], "only 1 layers"),
        (["--split-points", "3,1", "--stages", "3"], "not increasing"),
        (["--split-points", "4"], "out of range"),
        (["--layer-parallel", "pipeline:micro=2"], "unknown parameter 'micro'"),
        (["--layer-parallel", "pipeline:microbatches=two"], "not a valid int"),
        (["--layer-parallel", "pipelin"], "did you mean 'pipeline'"),
        (["--layer-parallel", "pipeline:microbatches=64"], "micro-batches but only 8 samples"),
    ],
)
def test_bad_stage_input_exits_2_with_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    p = python_run(*ARGS, *extra, "--out", "bad", cwd=tmp_path)
    assert p.returncode == 2, _log(p)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.distributed
@pytest.mark.parametrize(
    ("nproc", "extra", "message"),
    [
        (3, [], "cannot form a mesh of 2 stages"),
        (4, ["--agents", "1"], "2 agent blocks of 2 stages but only 1 agents"),
    ],
)
def test_bad_mesh_input_exits_2(tmp_path: Path, nproc: int, extra: list[str], message: str) -> None:
    p = torchrun(nproc, *ARGS, *extra, "--out", "bad", cwd=tmp_path)
    assert p.returncode != 0
    assert message in p.stderr, _log(p)
    assert p.stderr.count(message) == 1  # rank 0 alone says it
    assert "/consensus/" not in p.stderr  # no traceback from a rank (torchrun's own summary aside)
    assert not (tmp_path / "bad").exists()
