"""Shared fixtures: small float64 problems and their pooled optima from scipy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import consensus
from consensus.data import Dataset

from .reference import logistic_objective, minimize, ridge_objective


@dataclass(frozen=True)
class ConvexProblem:
    """A dataset, a model name, an l2 weight and the pooled optimum (flat, in the model's layout)."""

    data: Dataset
    model: str
    lam: float
    optimum: np.ndarray


@pytest.fixture(scope="session")
def logistic_problem() -> ConvexProblem:
    """Multinomial logistic regression on wine with l2 = 0.1."""
    data = consensus.load_dataset("wine")
    lam = 0.1
    fun, dim = logistic_objective(data.X_train, data.y_train, data.num_classes, lam)
    return ConvexProblem(data, "logistic", lam, minimize(fun, dim))


@pytest.fixture(scope="session")
def ridge_problem() -> ConvexProblem:
    """Ridge regression on diabetes with l2 = 1."""
    data = consensus.load_dataset("diabetes")
    lam = 1.0
    fun, dim = ridge_objective(data.X_train, data.y_train, lam)
    return ConvexProblem(data, "linear", lam, minimize(fun, dim))
