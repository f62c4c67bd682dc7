"""The results directory: config.json, metrics.jsonl, summary.json, final_model.pt, topology.png, curves.png."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

CURVES = [
    ("loss", "F(x_bar)", True),
    ("test_accuracy", "test accuracy of x_bar", False),
    ("consensus_error", "consensus error", True),
]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        json.dumps({k: _clean(v) for k, v in data.items()}, indent=2, sort_keys=True) + "\n"
    )
    os.replace(tmp, path)


def read_metrics(folder: Path) -> list[dict[str, float]]:
    """The metrics.jsonl of a run (skipping a torn last line)."""
    path = Path(folder) / "metrics.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def truncate_metrics(folder: Path, last_round: int) -> None:
    """Keep only metrics up to ``last_round`` (after resuming from an older checkpoint)."""
    rows = [r for r in read_metrics(folder) if r["round"] <= last_round]
    tmp = folder / ".metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, folder / "metrics.jsonl")


def append_metrics(folder: Path, row: dict[str, float]) -> None:
    """Append one evaluation as a JSON line."""
    with (folder / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")
        fh.flush()


def save_model(path: Path, model: nn.Module) -> None:
    """The average model's state_dict, loadable with ``torch.load(weights_only=True)``."""
    import torch  # here, not at the top: printing a summary needs no torch

    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)


def _number(value: Any, spec: str) -> str:
    return "nan" if value is None else format(value, spec)


def format_summary(row: dict[str, Any], out: Path) -> str:
    """Two lines for the end of a run: the final metrics and wall time, then the results directory.

    ``row`` is a metrics row or a summary (NaN may be ``None``, as in summary.json).
    """
    if "test_accuracy" in row:
        score = f"test acc {_number(row['test_accuracy'], '.4f')}"
    elif "test_mse" in row:
        score = f"test mse {_number(row['test_mse'], '.4g')}"
    else:
        score = "no test set"
    return (
        f"loss {_number(row.get('loss'), '.5g')} | {score} | "
        f"consensus {_number(row.get('consensus_error'), '.3g')} | "
        f"wall time {_number(row.get('wall_time'), '.1f')} s\n"
        f"results in {out}"
    )


def _run_title(folders: Sequence[Path], labels: Sequence[str]) -> str:
    """Name the run: its label, then agents, data, model and rounds from its config.json."""
    if len(folders) != 1:
        names = ", ".join(labels)
        return f"{len(folders)} runs: {names if len(names) <= 100 else names[:97] + '...'}"
    folder = Path(folders[0])
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    facts = [f"{config['agents']} agents"] if "agents" in config else []
    facts += [str(config[key]) for key in ("dataset", "model") if config.get(key)]
    facts += [f"{config['rounds']} rounds"] if "rounds" in config else []
    facts.append(folder.name)
    return f"{labels[0]}: {', '.join(facts)}"


def plot_runs(
    folders: Sequence[Path],
    path: Path,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """curves.png: :func:`curves_figure` saved to ``path``."""
    import matplotlib.pyplot as plt

    fig = curves_figure(folders, labels, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves_figure(
    folders: Sequence[Path], labels: Sequence[str] | None = None, title: str | None = None
) -> Any:
    """Overlay runs: loss, accuracy and consensus error against rounds (top) and MB sent per agent (bottom).

    ``title`` defaults to the run's label with its agents, dataset, model, rounds
    and directory (from config.json), or the labels of several runs. Returns
    the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    names = list(labels) if labels else [Path(folder).name for folder in folders]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for k, folder in enumerate(folders):
        rows = read_metrics(Path(folder))
        if not rows:
            continue
        for col, (key, name, log) in enumerate(CURVES):
            if key == "test_accuracy" and key not in rows[0]:
                key, name = "test_mse", "test MSE of x_bar"
            kept = [r for r in rows if r.get(key) is not None]
            ys = [r[key] for r in kept]
            for ax, xs, x_label in (
                (axes[0, col], [r["round"] for r in kept], "round"),
                (axes[1, col], [r["bytes_per_agent"] / 1e6 for r in kept], "MB sent per agent"),
            ):
                # Markers on short runs: a run with one evaluation is one point, no line.
                ax.plot(xs, ys, label=names[k], marker="o" if len(xs) <= 20 else None, ms=3)
                ax.set_xlabel(x_label)
                ax.set_title(name, fontsize=10)
                if log and all(y > 0 for y in ys):
                    ax.set_yscale("log")
                ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title or _run_title(folders, names), fontsize=11)
    fig.tight_layout()
    return fig


def draw_topology(schedule: Any, path: Path) -> None:
    """topology.png: round 0 of a static schedule; else up to four rounds and the gap of their window.

    A periodic schedule shows at most one period (its window is the period).
    """
    import matplotlib.pyplot as plt

    import topologies

    if schedule.is_static:
        topologies.draw(schedule, path)
    else:
        topologies.draw_rounds(schedule, path, rounds=min(4, schedule.period or 4))
    plt.close("all")
