"""experiments/run.py end to end, in both launch modes; bad input; kill and resume; NaN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
RUN = str(ROOT / "experiments" / "run.py")
SMALL = [
    "--agents",
    "4",
    "--dataset",
    "wine",
    "--rounds",
    "30",
    "--eval-every",
    "10",
    "--batch-size",
    "8",
]
PNG = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.timeout(600)


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


def python_run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, RUN, *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=500,
    )


def torchrun(
    nproc: int, *args: str, cwd: Path, restarts: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={restarts}",
        RUN,
        *args,
    ]
    return subprocess.run(
        cmd, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=500
    )


def model(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "final_model.pt", weights_only=True)


def assert_same_model(a: Path, b: Path, tol: float) -> None:
    ma, mb = model(a), model(b)
    assert set(ma) == set(mb)
    for key in ma:
        torch.testing.assert_close(ma[key], mb[key], rtol=0, atol=tol)


@pytest.fixture(scope="module")
def python_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("py")
    proc = python_run(*SMALL, "--out", "res", "--checkpoint-every", "10", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "res"


def test_results_directory_file_by_file(python_results: Path) -> None:
    names = sorted(p.name for p in python_results.iterdir())
    assert names == [
        "checkpoints",
        "config.json",
        "curves.png",
        "final_model.pt",
        "metrics.jsonl",
        "summary.json",
        "topology.png",
    ]
    config = json.loads((python_results / "config.json").read_text())
    assert config["topology"] == "ring" and config["agents"] == 4 and config["processes"] == 1
    assert config["algorithm_options"]["tau"] == 3.0 and config["weights"] == "metropolis"
    rows = [
        json.loads(line) for line in (python_results / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["round"] for r in rows] == [10, 20, 30]
    for key in (
        "loss",
        "grad_norm",
        "train_accuracy",
        "test_accuracy",
        "agents_test_accuracy",
        "consensus_error",
        "bytes_per_agent",
        "step_size",
    ):
        assert key in rows[-1]
    summary = json.loads((python_results / "summary.json").read_text())
    assert summary["rounds"] == 30 and summary["wall_time"] > 0 and summary["test_accuracy"] > 0.8
    state = model(python_results)
    assert set(state) == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    for png in ("topology.png", "curves.png"):
        assert (python_results / png).read_bytes()[:8] == PNG
    assert sorted(p.name for p in (python_results / "checkpoints").iterdir()) == [
        "round_000020",
        "round_000030",  # the last round too: a resume sees that the run is complete
    ]


@pytest.mark.distributed
def test_torchrun_gives_the_simulators_model(tmp_path: Path, python_results: Path) -> None:
    proc = torchrun(2, *SMALL, "--out", "res", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_model(python_results, tmp_path / "res", 1e-5)
    assert json.loads((tmp_path / "res" / "config.json").read_text())["processes"] == 2


@pytest.mark.distributed
def test_killed_worker_is_restarted_and_the_run_ends_as_if_uninterrupted(tmp_path: Path) -> None:
    args = [
        *SMALL,
        "--topology",
        "link_failure:base=ring,q=0.3",
        "--checkpoint-every",
        "10",
        "--dtype",
        "float64",
    ]
    clean = torchrun(2, *args, "--out", "clean", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr[-2000:]
    killed = torchrun(2, *args, "--out", "killed", cwd=tmp_path, restarts=1, CONCORD_FAULT="25:1")
    (tmp_path / "killed.log").write_text(killed.stdout + killed.stderr)
    assert killed.returncode == 0, "\n".join(
        ln for ln in killed.stderr.splitlines() if "it/s" not in ln
    )[-4000:]
    assert "resumed from the checkpoint of round 20" in killed.stdout + killed.stderr
    assert_same_model(tmp_path / "clean", tmp_path / "killed", 0.0)
    rounds = [
        json.loads(line)["round"]
        for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert rounds == [10, 20, 30]


def test_resume_skips_a_corrupt_checkpoint(tmp_path: Path, python_results: Path) -> None:
    import shutil

    run = tmp_path / "res"
    shutil.copytree(python_results, run)
    (run / "summary.json").unlink()
    newest = run / "checkpoints" / "round_000030" / "rank_00000.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # torn write
    proc = python_run(*SMALL, "--out", "res", "--checkpoint-every", "10", "--resume", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from the checkpoint of round 20" in proc.stdout + proc.stderr
    assert_same_model(python_results, run, 0.0)


BAD = [
    (["--algorithm", "nxt"], "unknown algorithm"),
    (["--rounds", "ten"], "invalid int value"),
    (["--unknown-flag"], "unrecognized arguments"),
    (["--algorithm", "extra", "--topology", "exponential"], "symmetric"),
    (["--dataset", "mnist"], "unknown dataset"),
    (["--model", "vgg"], "unknown model"),
    (["--data", "nodata.npz"], "does not exist"),
    (["--topology", "split.edgelist"], "not connected"),
    (["--device", "cuda"], "no CUDA device"),
    (["--algorithm", "dsgd", "--tau", "2"], "--tau does not apply to dsgd"),
    (["--reg", "l2"], "bad regularizer"),
    (["--partition", "dirichlet:-1"], "alpha"),
    (["--config", "missing.toml"], "does not exist"),
    (["--loss", "hinge"], "unknown loss"),
    (["--loss", "mse"], "use loss cross_entropy"),
    (["--dataset", "diabetes", "--loss", "cross_entropy"], "use loss mse"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "split.edgelist").write_text("0 1\n2 3\n")
    proc = python_run(*SMALL, "--out", "res", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 or lines[-1].startswith("run.py: error") or "usage:" in proc.stderr, (
        proc.stderr
    )
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "res").exists()


def test_npz_without_y_is_refused(tmp_path: Path) -> None:
    import numpy as np

    np.savez(tmp_path / "only_x.npz", X=np.zeros((20, 3)))
    proc = python_run(*SMALL, "--data", "only_x.npz", cwd=tmp_path)
    assert proc.returncode == 2 and "no array 'y'" in proc.stderr


def test_a_directory_holding_another_run_needs_resume(tmp_path: Path, python_results: Path) -> None:
    proc = python_run(*SMALL, "--out", str(python_results), "--agents", "5", cwd=tmp_path)
    assert proc.returncode == 2 and "holds another run" in proc.stderr
    proc = python_run(
        *SMALL, "--out", str(python_results), "--agents", "5", "--resume", cwd=tmp_path
    )
    assert proc.returncode == 2 and "different configuration (agents)" in proc.stderr


@pytest.mark.distributed
def test_more_processes_than_agents_is_refused(tmp_path: Path) -> None:
    proc = torchrun(3, "--agents", "2", "--rounds", "2", "--dataset", "iris", cwd=tmp_path)
    assert proc.returncode != 0
    assert "3 processes but only 2 agents" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_toml_config_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        'topology = "torus"\nagents = 4\nrounds = 50\ndataset = "iris"\nalgorithm = "gradient_tracking"\nlr = 0.2\n'
    )
    proc = python_run(
        "--config", "run.toml", "--rounds", "10", "--eval-every", "5", "--out", "res", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "res" / "config.json").read_text())
    assert (config["topology"], config["rounds"], config["lr"], config["algorithm"]) == (
        "torus",
        10,
        0.2,
        "gradient_tracking",
    )


def test_divergence_stops_with_the_round_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    proc = python_run(
        "--agents", "4", "--dataset", "diabetes", "--model", "linear", "--algorithm", "dgd", "--lr", "40",
        "--batch-size", "0", "--rounds", "200", "--eval-every", "5", "--checkpoint-every", "1", "--out", "res", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "NaN or inf at round" in proc.stderr and "last good checkpoint" in proc.stderr
    kept = sorted(p.name for p in (tmp_path / "res" / "checkpoints").iterdir())
    assert kept, "a good checkpoint should remain"
    payload = torch.load(
        next((tmp_path / "res" / "checkpoints" / kept[-1]).glob("*.pt")), weights_only=True
    )
    assert torch.isfinite(payload["X"]).all()


def test_plot_overlays_runs(tmp_path: Path, python_results: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "plot.py"), str(python_results), str(python_results), "-o", str(tmp_path / "cmp.png")],
        env=_env(), capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cmp.png").read_bytes()[:8] == PNG


def test_resume_with_fewer_rounds_than_the_checkpoint_is_refused(
    tmp_path: Path, python_results: Path
) -> None:
    import shutil

    run = tmp_path / "res"
    shutil.copytree(python_results, run)
    before = (run / "final_model.pt").read_bytes()
    proc = python_run(
        *SMALL[:-4],
        "--rounds",
        "15",
        "--eval-every",
        "10",
        "--batch-size",
        "8",
        "--out",
        "res",
        "--checkpoint-every",
        "10",
        "--resume",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "already finished 30 rounds" in proc.stderr, proc.stderr
    assert "give --rounds > 30" in proc.stderr
    assert (run / "final_model.pt").read_bytes() == before
    (run / "summary.json").unlink()  # an unfinished run: the newest checkpoint decides
    proc = python_run(*SMALL[:-4], "--rounds", "15", "--eval-every", "10", "--batch-size", "8",
                      "--out", "res", "--checkpoint-every", "10", "--resume", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "give --rounds >= 30" in proc.stderr, proc.stderr
    assert (run / "final_model.pt").read_bytes() == before


@pytest.mark.distributed
def test_resume_on_another_number_of_processes_is_refused(
    tmp_path: Path, python_results: Path
) -> None:
    import shutil

    shutil.copytree(python_results, tmp_path / "res")
    (tmp_path / "res" / "summary.json").unlink()
    proc = torchrun(2, *SMALL, "--out", "res", "--checkpoint-every", "10", "--resume", cwd=tmp_path)
    assert proc.returncode != 0 and "resume with the same number" in proc.stderr
