r"""Linear readout by ridge regression in closed form (float64), with k-fold cross-validation.

    W = argmin ||Z W^T - Y||^2 + ridge ||W||^2  =>  W^T = (Z^T Z + ridge I)^{-1} Z^T Y

Z (T, F) are the regressors (rows = time steps: [1, u(n), x(n)] for an ESN), Y (T, O) the targets;
every column of W, the bias one included, is penalised (as in Lukosevicius 2012). The same solution
is the least-squares solution of the augmented system [Z; sqrt(ridge) I] W^T = [Y; 0], which is how
it is computed (QR, see `ridge_fit`).

    >>> import torch
    >>> from rnnzoo.reservoir.readout import ridge_fit
    >>> Z = torch.randn(100, 3, dtype=torch.float64); Y = Z @ torch.tensor([[1.0], [2.0], [3.0]]).double()
    >>> ridge_fit(Z, Y, 1e-9).round(decimals=6).tolist()
    [[1.0, 2.0, 3.0]]
"""

from __future__ import annotations

import math

import numpy as np
import torch

DEFAULT_RIDGES = tuple(10.0 ** k for k in range(-12, 3))


def check_ridge(value, argument: str = "ridge") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{argument} must be >= 0 and finite, got {value!r}")
    return float(value)


SOLVERS = ("qr", "normal")


def gram(Z: torch.Tensor) -> torch.Tensor:
    """Z^T Z by BLAS's symmetric rank-k product (syrk, half the multiply-adds of a general product).

    torch has no syrk; NumPy calls it for `a.T @ a` of one contiguous array (37 ms against torch's 70 ms
    for Z.T @ Z, 2000 x 1001 float64, one thread; NumPy's BLAS threads follow OPENBLAS_NUM_THREADS /
    OMP_NUM_THREADS, not torch.set_num_threads).
    """
    z = Z.detach().contiguous().numpy()
    return torch.from_numpy(z.T @ z)


def ridge_fit(Z: torch.Tensor, Y: torch.Tensor, ridge: float, solver: str = "qr") -> torch.Tensor:
    """W (O, F) from regressors Z (T, F) and targets Y (T, O), in float64.

    solver "qr" (default): the least-squares solution of the augmented system [Z; sqrt(ridge) I] W^T =
    [Y; 0] by Householder QR (LAPACK gels; gelsy with column pivoting when ridge = 0). It equals the
    closed form above but never forms Z^T Z, which squares Z's condition number (1e8-1e10 for an
    ESN's states): the tiny ridges that precise predictors such as Mackey-Glass need survive.
    solver "normal": Cholesky of Z^T Z + ridge I (least squares on it if that fails), about twice as
    fast, and as accurate when ridge is not tiny next to the largest eigenvalue of Z^T Z.
    """
    Z, Y = Z.to(torch.float64), Y.to(torch.float64)
    ridge = check_ridge(ridge)
    F = Z.shape[1]
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "normal":
        A = gram(Z)
        A.diagonal().add_(ridge)
        try:  # NumPy's: torch's cholesky_ex adds a 4 ms pass (tril) at F = 1001
            L = torch.from_numpy(np.linalg.cholesky(A.numpy()))
        except np.linalg.LinAlgError:  # not positive definite in floating point: least squares on it
            return torch.linalg.lstsq(A, Z.T @ Y, driver="gelsd").solution.T
        return torch.cholesky_solve(Z.T @ Y, L).T
    if ridge == 0:
        return torch.linalg.lstsq(Z, Y, driver="gelsy").solution.T
    A = torch.cat([Z, math.sqrt(ridge) * torch.eye(F, dtype=torch.float64)])
    B = torch.cat([Y, torch.zeros(F, Y.shape[1], dtype=torch.float64)])
    return torch.linalg.lstsq(A, B, driver="gels").solution.T


def ridge_cv(Z: torch.Tensor, Y: torch.Tensor, ridges=DEFAULT_RIDGES, folds: int = 5) -> tuple[float, list[float]]:
    """The ridge of `ridges` with the least k-fold validation MSE, and the MSE of each ridge.

    Folds are contiguous blocks of rows (time steps stay together). One thin SVD of each fold's
    training rows, Z_tr = U S V^T, serves every ridge: W^T = V diag(s / (s^2 + ridge)) U^T Y_tr
    (accurate for tiny ridges, unlike an eigendecomposition of Z^T Z).
    """
    Z, Y = Z.to(torch.float64), Y.to(torch.float64)
    ridges = [check_ridge(r, "ridges") for r in ridges]
    if not ridges:
        raise ValueError("ridges must hold at least one value, got an empty grid")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    T = Z.shape[0]
    if T < folds:
        raise ValueError(f"folds={folds} needs at least {folds} training rows (steps after washout), got {T}")
    errors = torch.zeros(len(ridges), dtype=torch.float64)
    edges = [round(k * T / folds) for k in range(folds + 1)]
    for k in range(folds):
        keep = torch.ones(T, dtype=torch.bool)
        keep[edges[k]:edges[k + 1]] = False
        U, S, Vh = torch.linalg.svd(Z[keep], full_matrices=False)
        A = U.T @ Y[keep]  # (r, O)
        ZV = Z[~keep] @ Vh.T
        for j, r in enumerate(ridges):
            with torch.no_grad():
                scale = torch.where(S * S + r > 0, S / (S * S + r), torch.zeros_like(S))
            errors[j] += ((ZV @ (A * scale[:, None]) - Y[~keep]) ** 2).sum()
    errors /= T * Y.shape[1]
    best = int(torch.argmin(torch.nan_to_num(errors, nan=math.inf)))
    return ridges[best], errors.tolist()


def fit_readout(Z: torch.Tensor, Y: torch.Tensor, ridge: float | None = None, *, ridges=DEFAULT_RIDGES,
                folds: int = 5, solver: str = "qr") -> tuple[torch.Tensor, float, list[float] | None]:
    """W (O, F), the ridge used, and the cross-validation MSEs (None when ridge was given)."""
    errors = None
    if ridge is None:
        ridge, errors = ridge_cv(Z, Y, ridges, folds)
    return ridge_fit(Z, Y, ridge, solver), ridge, errors
