"""A run says, and config.json records, what was done with the data and the topology (issue 8)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from consensus.errors import ConfigError
from consensus.runtime.cli import main
from consensus.runtime.config import parse_config

pytestmark = pytest.mark.timeout(300)


def test_graph_file_sets_the_number_of_agents(tmp_path: Path) -> None:
    path = tmp_path / "wiring.edgelist"
    nx.write_edgelist(nx.cycle_graph(6), path, data=False)
    assert parse_config(["--topology", str(path)]).agents == 6
    assert parse_config(["--topology", str(path), "--agents", "6"]).agents == 6
    with pytest.raises(ConfigError) as info:
        parse_config(["--topology", str(path), "--agents", "8"])
    assert str(info.value) == (
        f"--agents 8 but {path} has 6 nodes; drop --agents (the graph file sets it) or give --agents 6"
    )
    toml = tmp_path / "run.toml"
    toml.write_text(f'topology = "{path}"\nagents = 4\n')
    with pytest.raises(ConfigError, match="has 6 nodes"):
        parse_config(["--config", str(toml)])
    assert parse_config(["--agents", "5"]).agents == 5  # a built-in name keeps the flag


def test_run_records_data_and_topology_choices(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    names = [f"n{i}" for i in range(1, 7)]  # n1..n6 (no n0): words, numbered in natural order
    path = tmp_path / "named.edgelist"
    path.write_text(
        "".join(f"{a} {b}\n" for a, b in zip(names, names[1:] + names[:1], strict=True))
    )
    out = tmp_path / "run"
    code = main(
        [
            "--topology", str(path), "--dataset", "wine", "--algorithm", "dsgd", "--rounds", "4",
            "--eval-every", "2", "--batch-size", "8", "--no-standardize", "--test-fraction", "0",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    stdout = capsys.readouterr().out
    assert "wine: 178 train rows, no test set, not standardized" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["agents"] == 6
    assert config["standardize"] is False and config["test_fraction"] == 0.0
    assert config["data_description"] == "wine: 178 train rows, no test set, not standardized"
    assert config["topology_details"]["node_labels"] == {name: i for i, name in enumerate(names)}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all("test_accuracy" not in m for m in metrics)


def test_run_records_the_torus_shape(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "torus"
    args = ["--topology", "torus", "--agents", "6", "--dataset", "iris", "--algorithm", "dsgd"]
    code = main([*args, "--rounds", "2", "--eval-every", "2", "--out", str(out)])
    assert code == 0
    assert "iris: 112 train / 38 test rows (a 25% split), standardized" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["topology_details"] == {"shape": [2, 3]}
    assert config["schedule"] == "torus (2 x 3)"
    assert config["standardize"] is True and config["test_fraction"] is None
