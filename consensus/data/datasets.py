"""Datasets that work offline: scikit-learn's bundled sets and a user's .npz."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    """A standardized train/test split.

    ``task`` is ``"classification"`` (integer labels ``0..num_classes-1``) or
    ``"regression"`` (float targets). ``image_shape`` is set when the rows are
    flattened images (digits: ``(1, 8, 8)``), so that convolutional models apply.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int
    image_shape: tuple[int, ...] | None = None

    @property
    def num_features(self) -> int:
        """Number of input features per sample."""
        return int(self.X_train.shape[1])

    @property
    def output_dim(self) -> int:
        """Model output size: classes for classification, 1 for regression."""
        return self.num_classes if self.task == "classification" else 1


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Fitted on the training split only, so no test information leaks.
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


def _split(X: np.ndarray, y: np.ndarray, classify: bool, seed: int, test_fraction: float = 0.25):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=test_fraction, random_state=seed, stratify=y if classify else None
    )


def _from_sklearn(
    name: str, loader: Callable[..., object], task: str, seed: int, image_shape=None
) -> Dataset:
    bunch = loader()
    X = np.asarray(bunch.data, dtype=np.float64)  # type: ignore[attr-defined]
    y = np.asarray(bunch.target)  # type: ignore[attr-defined]
    classify = task == "classification"
    X_tr, X_te, y_tr, y_te = _split(X, y, classify, seed)
    X_tr, X_te = _standardize(X_tr, X_te)
    if classify:
        y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
        classes = int(max(y_tr.max(), y_te.max()) + 1)
    else:
        mu, sd = y_tr.mean(), y_tr.std() or 1.0
        y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
        classes = 0
    return Dataset(name, X_tr, y_tr, X_te, y_te, task, classes, image_shape)


def _sk(
    loader_name: str, task: str, image_shape: tuple[int, ...] | None = None
) -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        import sklearn.datasets as skd

        return _from_sklearn(
            loader_name, getattr(skd, f"load_{loader_name}"), task, seed, image_shape
        )

    return load


#: Built-in dataset name -> loader(seed).
DATASETS: dict[str, Callable[[int], Dataset]] = {
    "digits": _sk("digits", "classification", (1, 8, 8)),
    "breast_cancer": _sk("breast_cancer", "classification"),
    "wine": _sk("wine", "classification"),
    "iris": _sk("iris", "classification"),
    "diabetes": _sk("diabetes", "regression"),
}


def load_npz(path: str | Path, seed: int = 0, task: str | None = None) -> Dataset:
    """A user's ``.npz`` with arrays ``X`` and ``y`` (and optionally ``X_test``, ``y_test``).

    Integer ``y`` means classification, float ``y`` regression (override with
    ``task``). Without a test split, a quarter of the data is held out.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"data file {p} does not exist; check the path")
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as err:
        raise ConfigError(
            f"cannot read {p} as .npz ({type(err).__name__}); save it with numpy.savez"
        ) from None
    missing = [k for k in ("X", "y") if k not in archive.files]
    if missing:
        raise ConfigError(
            f"{p} has no array {missing[0]!r} (it has {', '.join(archive.files) or 'none'}); save X and y"
        )
    X = np.asarray(archive["X"], dtype=np.float64)
    y = np.asarray(archive["y"])
    if X.ndim < 2 or len(X) != len(y):
        raise ConfigError(
            f"{p}: X must be (samples, features) with as many rows as y; got X {X.shape}, y {y.shape}"
        )
    image_shape = tuple(X.shape[1:]) if X.ndim > 2 else None
    X = X.reshape(len(X), -1)
    kind = task or ("classification" if np.issubdtype(y.dtype, np.integer) else "regression")
    if "X_test" in archive.files and "y_test" in archive.files:
        X_tr, y_tr = X, y
        X_te = np.asarray(archive["X_test"], dtype=np.float64).reshape(len(archive["X_test"]), -1)
        y_te = np.asarray(archive["y_test"])
    else:
        X_tr, X_te, y_tr, y_te = _split(X, y, False, seed)
    X_tr, X_te = _standardize(X_tr, X_te)
    if kind == "classification":
        y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
        if min(y_tr.min(), y_te.min()) < 0:
            raise ConfigError(f"{p}: class labels must be 0..C-1; relabel y")
        classes = int(max(y_tr.max(), y_te.max()) + 1)
    else:
        y_tr, y_te, classes = y_tr.astype(np.float64), y_te.astype(np.float64), 0
    return Dataset(p.stem, X_tr, y_tr, X_te, y_te, kind, classes, image_shape)


def load_dataset(name_or_path: str, seed: int = 0) -> Dataset:
    """A built-in dataset by name or a user's ``.npz`` by path.

    Examples
    --------
    >>> d = load_dataset("iris")
    >>> d.task, d.num_classes, d.X_train.shape
    ('classification', 3, (112, 4))
    """
    if name_or_path.endswith(".npz"):
        return load_npz(name_or_path, seed)
    if name_or_path not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name_or_path!r}; known: {', '.join(DATASETS)}, or a path to a .npz file"
        )
    return DATASETS[name_or_path](seed)
