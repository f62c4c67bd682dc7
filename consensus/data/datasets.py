"""Datasets that work offline: scikit-learn's bundled sets and a user's .npz."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

#: Fraction of the rows held out as the test set when none is given.
DEFAULT_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Dataset:
    """A train/test split, standardized unless asked otherwise.

    ``task`` is ``"classification"`` (integer labels ``0..num_classes-1``) or
    ``"regression"`` (float targets). ``image_shape`` is set when the rows are
    flattened images (digits: ``(1, 8, 8)``), so that convolutional models apply.
    ``X_test`` may have no rows (``test_fraction=0``): then there is no held-out
    set and runs report no test metrics. ``standardized`` and ``test_source``
    record what was done, for :meth:`describe`.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int
    image_shape: tuple[int, ...] | None = None
    standardized: bool = True
    test_source: str = "split"

    @property
    def num_features(self) -> int:
        """Number of input features per sample."""
        return int(self.X_train.shape[1])

    @property
    def output_dim(self) -> int:
        """Model output size: classes for classification, 1 for regression."""
        return self.num_classes if self.task == "classification" else 1

    @property
    def has_test(self) -> bool:
        """True when there is a held-out test set (with at least one row)."""
        return len(self.X_test) > 0

    def describe(self) -> str:
        """One line saying what the run trains and tests on.

        Examples
        --------
        >>> load_dataset("digits").describe()
        'digits: 1347 train / 450 test rows (a 25% split), standardized'
        """
        train = f"{len(self.X_train)} train"
        if not self.has_test:
            rows = f"{train} rows, no test set"
        elif self.test_source == "file":
            rows = f"{train} / {len(self.X_test)} test rows (the file's X_test)"
        else:
            share = len(self.X_test) / (len(self.X_test) + len(self.X_train))
            rows = f"{train} / {len(self.X_test)} test rows (a {share:.0%} split)"
        return f"{self.name}: {rows}, {'standardized' if self.standardized else 'not standardized'}"


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Fitted on the training split only, so no test information leaks.
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


def _check_fraction(test_fraction: float) -> float:
    if isinstance(test_fraction, bool) or not 0 <= test_fraction < 1:
        raise ConfigError(f"test_fraction={test_fraction!r} must be in [0, 1); 0 means no test set")
    return float(test_fraction)


def _split(
    X: np.ndarray, y: np.ndarray, classify: bool, seed: int, test_fraction: float, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if test_fraction == 0:  # everything trains; an empty test set of the same width
        return X, X[:0], y, y[:0]
    from sklearn.model_selection import train_test_split

    try:
        parts = train_test_split(
            X, y, test_size=test_fraction, random_state=seed, stratify=y if classify else None
        )
    except ValueError as err:  # e.g. fewer test rows than classes
        first = str(err).splitlines()[0]
        raise ConfigError(
            f"{name}: cannot hold out test_fraction={test_fraction} ({first}); "
            "give a larger fraction, or 0 for no test set"
        ) from None
    return parts[0], parts[1], parts[2], parts[3]


def _finish(
    name: str,
    split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    task: str,
    image_shape: tuple[int, ...] | None,
    *,
    standardize: bool,
    test_source: str,
    where: str,
) -> Dataset:
    """Standardize (features, and regression targets) on the training rows; type the labels."""
    X_tr, X_te, y_tr, y_te = split
    if standardize:
        X_tr, X_te = _standardize(X_tr, X_te)
    if task == "classification":
        y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
        if min(y_tr.min(), y_te.min(initial=0)) < 0:
            raise ConfigError(f"{where}: class labels must be 0..C-1; relabel y")
        classes = int(max(y_tr.max(), y_te.max(initial=0)) + 1)
    else:
        y_tr, y_te, classes = y_tr.astype(np.float64), y_te.astype(np.float64), 0
        if standardize:
            mu, sd = y_tr.mean(), y_tr.std() or 1.0
            y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    return Dataset(
        name, X_tr, y_tr, X_te, y_te, task, classes, image_shape, standardize, test_source
    )


def _from_sklearn(
    name: str,
    loader: Callable[..., object],
    task: str,
    seed: int,
    image_shape: tuple[int, ...] | None = None,
    *,
    standardize: bool = True,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Dataset:
    bunch = loader()
    X = np.asarray(bunch.data, dtype=np.float64)  # type: ignore[attr-defined]
    y = np.asarray(bunch.target)  # type: ignore[attr-defined]
    split = _split(X, y, task == "classification", seed, _check_fraction(test_fraction), name)
    return _finish(
        name, split, task, image_shape, standardize=standardize, test_source="split", where=name
    )


def _sk(
    loader_name: str, task: str, image_shape: tuple[int, ...] | None = None
) -> Callable[..., Dataset]:
    def load(
        seed: int, *, standardize: bool = True, test_fraction: float = DEFAULT_TEST_FRACTION
    ) -> Dataset:
        import sklearn.datasets as skd

        return _from_sklearn(
            loader_name,
            getattr(skd, f"load_{loader_name}"),
            task,
            seed,
            image_shape,
            standardize=standardize,
            test_fraction=test_fraction,
        )

    return load


#: Built-in dataset name -> loader(seed, *, standardize=True, test_fraction=0.25).
DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": _sk("digits", "classification", (1, 8, 8)),
    "breast_cancer": _sk("breast_cancer", "classification"),
    "wine": _sk("wine", "classification"),
    "iris": _sk("iris", "classification"),
    "diabetes": _sk("diabetes", "regression"),
}


def load_npz(
    path: str | Path,
    seed: int = 0,
    task: str | None = None,
    *,
    standardize: bool = True,
    test_fraction: float | None = None,
) -> Dataset:
    """A user's ``.npz`` with arrays ``X`` and ``y`` (and optionally ``X_test``, ``y_test``).

    Integer ``y`` means classification, float ``y`` regression (override with
    ``task``). The file's ``X_test``/``y_test`` are the test set when present
    (then ``test_fraction`` must not be given); otherwise ``test_fraction`` of
    the rows (default 0.25; 0 for none) are held out. ``standardize`` scales
    features (and regression targets) with the training rows' mean and
    standard deviation; pass False to keep the data as given.
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
    # (samples, H, W) are one-channel images; (samples, C, H, W) are kept as they are.
    image_shape = (1, *X.shape[1:]) if X.ndim == 3 else tuple(X.shape[1:]) if X.ndim > 3 else None
    X = X.reshape(len(X), -1)
    kind = task or ("classification" if np.issubdtype(y.dtype, np.integer) else "regression")
    if "X_test" in archive.files and "y_test" in archive.files:
        if test_fraction is not None:
            raise ConfigError(
                f"{p} has its own X_test and y_test, so test_fraction={test_fraction} does not apply; "
                "drop it (or remove X_test and y_test from the file)"
            )
        X_te = np.asarray(archive["X_test"], dtype=np.float64).reshape(len(archive["X_test"]), -1)
        split = (X, X_te, y, np.asarray(archive["y_test"]))
        source = "file"
    else:
        fraction = _check_fraction(
            DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        )
        split = _split(X, y, False, seed, fraction, p.name)
        source = "split"
    return _finish(
        p.stem, split, kind, image_shape, standardize=standardize, test_source=source, where=str(p)
    )


def load_dataset(
    name_or_path: str,
    seed: int = 0,
    *,
    standardize: bool = True,
    test_fraction: float | None = None,
) -> Dataset:
    """A built-in dataset by name or a user's ``.npz`` by path.

    Parameters
    ----------
    name_or_path : str
        A name from :data:`DATASETS` or the path of a ``.npz`` file (see :func:`load_npz`).
    seed : int
        Seed of the train/test split.
    standardize : bool
        Scale features (and regression targets) to mean 0 and variance 1 with
        statistics of the training rows. False keeps the data as given.
    test_fraction : float, optional
        Fraction of the rows held out as the test set, in ``[0, 1)``; 0 holds out
        nothing (no test metrics). Default 0.25, or a ``.npz`` file's own
        ``X_test``.

    Examples
    --------
    >>> d = load_dataset("iris")
    >>> d.task, d.num_classes, d.X_train.shape
    ('classification', 3, (112, 4))
    >>> load_dataset("iris", test_fraction=0).describe()
    'iris: 150 train rows, no test set, standardized'
    """
    if name_or_path.endswith(".npz"):
        return load_npz(name_or_path, seed, standardize=standardize, test_fraction=test_fraction)
    if name_or_path not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name_or_path!r}; known: {', '.join(DATASETS)}, or a path to a .npz file"
        )
    fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    return DATASETS[name_or_path](seed, standardize=standardize, test_fraction=fraction)
