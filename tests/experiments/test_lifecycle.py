"""A run's life from the command line: default directories, Ctrl-C, resume, finished runs, bad input under torchrun."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.experiments.test_cli import (
    RUN,
    SMALL,
    _env,
    assert_same_model,
    python_run,
    torchrun,
)

pytestmark = pytest.mark.timeout(600)

LONG = [*SMALL[:4], "--rounds", "4000", "--eval-every", "100", "--batch-size", "8"]


def _rounds(folder: Path) -> list[float]:
    return [
        json.loads(line)["round"] for line in (folder / "metrics.jsonl").read_text().splitlines()
    ]


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _worker_traceback(stderr: str) -> bool:
    """A traceback frame of Concord's code (torchrun's own traceback is in torch's files)."""
    return any(
        ln.strip().startswith("File ") and ("consensus" in ln or "experiments" in ln)
        for ln in stderr.splitlines()
    )


def _interrupt(cmd: list[str], cwd: Path, group: bool = False) -> tuple[int, str, str]:
    """Start ``cmd``, send SIGINT once it has logged its first evaluation, return (code, out, err)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=group,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not (lines and lines[-1].startswith("round")):  # up to the first evaluation
        lines.append(proc.stdout.readline())
        assert lines[-1], proc.communicate()[1][-3000:]
    if group:  # Ctrl-C in a terminal signals the whole foreground process group
        import os

        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, "".join(lines) + out, err


# Point 1: the README's two commands in order, and bad input under torchrun.


@pytest.mark.distributed
def test_python_then_torchrun_write_their_own_default_directories(tmp_path: Path) -> None:
    first = python_run(*SMALL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = torchrun(2, *SMALL, "--topology", "ring", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "next-ring-n4-s0",
        "next-ring-n4-s0-p2",
    ]
    config = json.loads((tmp_path / "runs" / "next-ring-n4-s0-p2" / "config.json").read_text())
    assert config["processes"] == 2 and config["out"] is None
    assert "results in runs/next-ring-n4-s0-p2" in second.stdout
    assert_same_model(
        tmp_path / "runs" / "next-ring-n4-s0", tmp_path / "runs" / "next-ring-n4-s0-p2", 1e-5
    )


@pytest.mark.distributed
def test_bad_flag_under_torchrun_is_one_line_from_rank_0(tmp_path: Path) -> None:
    proc = torchrun(2, "--agents", "0", cwd=tmp_path)
    assert proc.returncode != 0
    assert _errors(proc.stderr) == ["error: --agents=0 must be >= 1"], proc.stderr
    assert not _worker_traceback(proc.stderr), proc.stderr
    assert "exitcode  : 2" in proc.stderr  # the workers' code, in torchrun's report
    assert not (tmp_path / "runs").exists()


@pytest.mark.distributed
def test_an_error_on_rank_1_only_is_reported_once_by_rank_0(tmp_path: Path) -> None:
    # A graph function that builds another graph on rank 1: before the ranks agreed on bad
    # input, rank 1 stopped silently and rank 0 waited for it until torchrun killed it.
    (tmp_path / "rankgraph.py").write_text(
        "import os\nimport networkx as nx\n\n\ndef graph(n):\n"
        "    return nx.path_graph(n + 1) if os.environ['RANK'] == '1' else nx.cycle_graph(n)\n"
    )
    proc = torchrun(2, *SMALL, "--topology", "rankgraph.py:graph", "--out", "res", cwd=tmp_path)
    assert proc.returncode != 0
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: rank 1: graph has 5 nodes"), (
        proc.stderr
    )
    assert not _worker_traceback(proc.stderr), proc.stderr
    assert not (tmp_path / "res").exists()


# Point 4: summary, Ctrl-C, resume.


def test_a_run_ends_with_its_summary_and_directory(tmp_path: Path) -> None:
    proc = python_run(*SMALL, "--out", "res", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.splitlines()[-3:]
    assert tail[0] == "finished 30 rounds"
    assert tail[1].startswith("loss ") and "test acc" in tail[1] and "consensus" in tail[1]
    assert "wall time" in tail[1] and tail[2] == "results in res"


def test_ctrl_c_checkpoints_the_round_and_the_hint_resumes_it(tmp_path: Path) -> None:
    code, out, err = _interrupt([sys.executable, RUN, *LONG, "--out", "res"], tmp_path)
    assert code == 130, err
    stopped = int(out.split("stopped after round ")[1].split()[0])
    assert 100 <= stopped < 4000
    assert "results in res" in out and "loss " in out
    hint = _errors(err)[-1]
    assert hint.startswith("error: interrupted; resume with: python "), err
    assert "Traceback" not in err
    run = tmp_path / "res"
    assert not (run / "summary.json").exists()
    folder = run / "checkpoints" / f"round_{stopped:06d}"
    assert sorted(p.name for p in folder.iterdir()) == ["rank_00000.pt", "rank_00000.sha256"]
    assert not list(run.rglob(".*tmp*")), "no half-written files"
    assert max(_rounds(run)) <= stopped
    # The hint, run as printed (with fewer rounds to keep the test short), continues the run ...
    command = shlex.split(hint.split("resume with: ")[1])
    assert command[:2] == ["python", RUN] and command[-3:] == ["--out", "res", "--resume"]
    args = [*command[2:]]
    args[args.index("--rounds") + 1] = str(stopped + 50)
    resumed = python_run(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from the checkpoint of round {stopped}" in resumed.stdout
    # ... exactly as if it had not stopped.
    straight = python_run(
        *LONG[:-6], "--rounds", str(stopped + 50), *LONG[-4:], "--out", "straight", cwd=tmp_path
    )
    assert straight.returncode == 0, straight.stderr
    assert_same_model(run, tmp_path / "straight", 0.0)
    assert _rounds(run) == _rounds(tmp_path / "straight")


def test_resume_of_a_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    proc = python_run(*SMALL, "--out", "nowhere", "--resume", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert _errors(proc.stderr) == [
        "error: --resume: nowhere does not exist; check --out, or drop --resume to start a new run"
    ]
    assert not (tmp_path / "nowhere").exists()


def test_resume_of_a_finished_run_does_nothing(tmp_path: Path) -> None:
    first = python_run(*SMALL, "--out", "res", "--checkpoint-every", "10", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run = tmp_path / "res"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", RUN, *SMALL, "--out", "res", "--checkpoint-every", "10", "--resume"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "res already finished its 30 rounds: nothing to do" in proc.stdout
    assert "results in res" in proc.stdout
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    imported = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
    assert "torch" not in imported, "a finished run answers without importing torch"


def test_resume_with_more_rounds_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    short = python_run(*SMALL[:4], "--rounds", "20", *SMALL[6:], "--out", "res", cwd=tmp_path)
    assert short.returncode == 0, short.stderr
    # The last round is checkpointed: the continuation starts there, not at the one before.
    longer = python_run(*SMALL, "--out", "res", "--resume", cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr
    assert "resumed from the checkpoint of round 20" in longer.stdout
    straight = python_run(*SMALL, "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    assert_same_model(tmp_path / "res", tmp_path / "straight", 0.0)
    assert _rounds(tmp_path / "res") == _rounds(tmp_path / "straight") == [10, 20, 30]
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert summary["rounds"] == 30 and summary["resumed_from"] == 20


@pytest.mark.distributed
def test_ctrl_c_under_torchrun_checkpoints_one_round_on_every_rank(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        RUN, *LONG, "--out", "res",
    ]  # fmt: skip
    code, out, err = _interrupt(cmd, tmp_path, group=True)
    assert code != 0
    stopped = int(out.split("stopped after round ")[1].split()[0])
    hint = [ln for ln in _errors(err) if "resume with" in ln]
    assert len(hint) == 1, err
    assert "resume with: torchrun --standalone --nproc-per-node 2 python" not in hint[0]
    assert hint[0].endswith("--out res --resume"), hint
    assert not _worker_traceback(err), err
    folder = tmp_path / "res" / "checkpoints" / f"round_{stopped:06d}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "rank_00000.pt",
        "rank_00000.sha256",
        "rank_00001.pt",
        "rank_00001.sha256",
    ]
    rounds = str(stopped + 20)
    resumed = torchrun(
        2, *LONG[:-6], "--rounds", rounds, *LONG[-4:], "--out", "res", "--resume", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = torchrun(
        2, *LONG[:-6], "--rounds", rounds, *LONG[-4:], "--out", "straight", cwd=tmp_path
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert_same_model(tmp_path / "res", tmp_path / "straight", 0.0)
