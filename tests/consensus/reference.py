"""Pooled (centralized) optima computed independently with scipy, in NumPy float64."""

from __future__ import annotations

import numpy as np
import scipy.optimize as so
from scipy.special import logsumexp


def logistic_objective(X: np.ndarray, y: np.ndarray, classes: int, lam: float):  # type: ignore[no-untyped-def]
    """F(W, b) = mean softmax cross-entropy + (lam/2)||(W, b)||^2, parameters flat as [W (C x F), b (C)]."""
    N, F = X.shape

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[: classes * F].reshape(classes, F), theta[classes * F :]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = unpack(theta)
        logits = X @ W.T + b
        lse = logsumexp(logits, axis=1)
        value = float(np.mean(lse - logits[np.arange(N), y])) + 0.5 * lam * float(theta @ theta)
        P = np.exp(logits - lse[:, None])
        P[np.arange(N), y] -= 1.0
        P /= N
        grad = np.concatenate([(P.T @ X).ravel(), P.sum(0)]) + lam * theta
        return value, grad

    return fun, classes * F + classes


def ridge_objective(X: np.ndarray, y: np.ndarray, lam: float):  # type: ignore[no-untyped-def]
    """F(w, b) = mean (x^T w + b - y)^2 + (lam/2)||(w, b)||^2, parameters flat as [w (F), b]."""
    N, F = X.shape

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r = X @ theta[:F] + theta[F] - y
        value = float(np.mean(r * r)) + 0.5 * lam * float(theta @ theta)
        grad = np.concatenate([2.0 * X.T @ r / N, [2.0 * r.mean()]]) + lam * theta
        return value, grad

    return fun, F + 1


def minimize(fun, dim: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """L-BFGS to a tight tolerance; the pooled optimum."""
    res = so.minimize(
        fun,
        np.zeros(dim),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 20000},
    )
    return np.asarray(res.x)
