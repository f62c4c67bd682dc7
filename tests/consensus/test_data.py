"""Datasets, partitions and per-agent batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import consensus
from consensus.data import make_shards, partition


@pytest.mark.parametrize("name", sorted(consensus.DATASETS))
def test_builtin_datasets_are_standardized_on_the_training_split(name: str) -> None:
    data = consensus.load_dataset(name)
    np.testing.assert_allclose(data.X_train.mean(0), 0.0, atol=1e-10)
    assert len(data.X_test) > 0 and data.X_train.shape[1] == data.X_test.shape[1]
    if data.task == "classification":
        assert data.y_train.dtype == np.int64 and data.num_classes >= 2


@pytest.mark.parametrize("scheme", ["iid", "label", "label:3", "dirichlet:0.3", "dirichlet:5"])
def test_partitions_cover_every_sample_once(scheme: str) -> None:
    y = consensus.load_dataset("digits").y_train
    parts = partition(y, 10, scheme, seed=1)
    together = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(together, np.arange(len(y)))
    assert all(len(p) > 0 for p in parts)


def test_label_partition_is_skewed_and_iid_is_balanced() -> None:
    y = consensus.load_dataset("digits").y_train
    label = partition(y, 10, "label:2", seed=0)
    # Two shards of the label-sorted data: an agent sees a few labels (a shard may straddle two).
    assert np.mean([len(np.unique(y[p])) for p in label]) <= 3.5
    iid = partition(y, 10, "iid", seed=0)
    assert max(len(p) for p in iid) - min(len(p) for p in iid) <= 1
    assert min(len(np.unique(y[p])) for p in iid) == 10


def test_dirichlet_small_alpha_is_more_skewed_than_large() -> None:
    y = consensus.load_dataset("digits").y_train

    def skew(alpha: float) -> float:
        parts = partition(y, 8, f"dirichlet:{alpha}", seed=0)
        return float(np.mean([np.bincount(y[p], minlength=10).max() / len(p) for p in parts]))

    assert skew(0.1) > skew(100.0) + 0.2


def test_npz_with_and_without_test_split(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 3)), rng.integers(0, 2, 80)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", X=X, y=y, X_test=X[:10], y_test=y[:10])
    a, b = (
        consensus.load_dataset(str(tmp_path / "a.npz")),
        consensus.load_dataset(str(tmp_path / "b.npz")),
    )
    assert a.task == "classification" and len(a.X_test) == 20
    assert len(b.X_test) == 10 and len(b.X_train) == 80
    np.savez(tmp_path / "r.npz", X=X, y=rng.normal(size=80))
    assert consensus.load_dataset(str(tmp_path / "r.npz")).task == "regression"
    result = consensus.train(
        "ring", "dsgd", agents=4, dataset=str(tmp_path / "a.npz"), model="logistic", rounds=3
    )
    assert np.isfinite(result.final["loss"])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((4, 2))}, "no array 'y'"),
        ({"y": np.zeros(4)}, "no array 'X'"),
        ({"X": np.zeros((4, 2)), "y": np.zeros(3)}, "as many rows"),
    ],
)
def test_bad_npz_files_are_refused(tmp_path, arrays: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(consensus.ConfigError, match=message):
        consensus.load_dataset(str(tmp_path / "bad.npz"))


def test_batches_depend_on_agent_id_not_on_block() -> None:
    data = consensus.load_dataset("wine")
    parts = partition(data.y_train, 6, "dirichlet:0.5", seed=0)
    whole = make_shards(data, parts, np.arange(6))
    block = make_shards(data, parts, np.array([3, 4]))
    xw, yw, ww = whole.batch(seed=7, t=11, size=9)
    xb, yb, wb = block.batch(seed=7, t=11, size=9)
    torch.testing.assert_close(xw[3:5], xb)
    torch.testing.assert_close(yw[3:5], yb)
    torch.testing.assert_close(ww[3:5], wb)
    assert not torch.equal(whole.batch(seed=7, t=12, size=9)[0], xw)


def test_batch_weights_make_the_sum_of_local_losses_the_pooled_loss() -> None:
    data = consensus.load_dataset("wine")
    parts = partition(data.y_train, 5, "label", seed=0)
    shards = make_shards(data, parts, np.arange(5), dtype=torch.float64)
    _, _, w = shards.full_batch()
    # sum over agents and samples of w = n (each agent's weights estimate n * f_i; f_i sums to F).
    assert float(w.sum()) == pytest.approx(5.0)


def test_batches_drawn_in_blocks_of_rounds_equal_one_round_draws() -> None:
    """Shards draw indices for many rounds at once; any round, in any order, is that round's own draw."""
    from consensus.data.hashing import uniform_indices

    data = consensus.load_dataset("wine")
    parts = partition(data.y_train, 4, "iid", seed=0)
    shards = make_shards(data, parts, np.arange(4))
    counts = np.array([len(p) for p in parts])
    M = shards.X.shape[1]
    for t in (0, 31, 32, 5, 100, 64, 63):
        x, y, _ = shards.batch(seed=2, t=t, size=3)
        idx = uniform_indices(2, np.arange(4), t, 3, counts)
        rows = torch.from_numpy((idx + np.arange(4)[:, None] * M).ravel())
        torch.testing.assert_close(x, shards.X.reshape(-1, shards.X.shape[-1])[rows].view(4, 3, -1))
        torch.testing.assert_close(y, shards.y.reshape(-1)[rows].view(4, 3))


def test_standardize_and_test_fraction_are_switchable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X, y = rng.normal(5.0, 3.0, size=(80, 3)), rng.integers(0, 2, 80)
    path = str(tmp_path / "a.npz")
    np.savez(path, X=X, y=y)
    default = consensus.load_dataset(path)
    assert len(default.X_test) == 20 and default.standardized
    assert default.describe() == "a: 60 train / 20 test rows (a 25% split), standardized"
    raw = consensus.load_dataset(path, standardize=False, test_fraction=0.1)
    assert len(raw.X_test) == 8 and len(raw.X_train) == 72
    np.testing.assert_array_equal(
        np.sort(np.concatenate([raw.X_train, raw.X_test]), 0), np.sort(X, 0)
    )
    assert raw.describe() == "a: 72 train / 8 test rows (a 10% split), not standardized"
    whole = consensus.load_dataset(path, test_fraction=0)
    assert len(whole.X_train) == 80 and not whole.has_test
    assert whole.describe() == "a: 80 train rows, no test set, standardized"
    digits = consensus.load_dataset("digits", standardize=False, test_fraction=0)
    assert digits.X_train.max() == 16.0 and len(digits.X_train) == 1797


def test_no_test_set_means_no_test_metrics() -> None:
    result = consensus.train(
        "ring", "dsgd", agents=4, dataset="wine", model="logistic", rounds=4, eval_every=4,
        test_fraction=0,
    )  # fmt: skip
    assert "test_accuracy" not in result.final and "train_accuracy" in result.final
    assert result.problem.data.describe() == "wine: 178 train rows, no test set, standardized"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 1.0}, r"test_fraction=1.0 must be in \[0, 1\)"),
        ({"test_fraction": -0.1}, r"must be in \[0, 1\)"),
        ({"test_fraction": 0.001}, "cannot hold out test_fraction=0.001"),
    ],
)
def test_bad_test_fractions_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(consensus.ConfigError, match=message) as info:
        consensus.load_dataset("digits", **kwargs)
    assert "\n" not in str(info.value)


def test_a_file_with_its_own_test_set_refuses_a_test_fraction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    np.savez(tmp_path / "b.npz", X=X, y=y, X_test=X[:3], y_test=y[:3])
    data = consensus.load_dataset(str(tmp_path / "b.npz"))
    assert data.describe() == "b: 10 train / 3 test rows (the file's X_test), standardized"
    with pytest.raises(consensus.ConfigError, match="has its own X_test"):
        consensus.load_dataset(str(tmp_path / "b.npz"), test_fraction=0.2)
