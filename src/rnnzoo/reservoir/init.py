"""Random reservoir, input and feedback matrices; the reservoir scaled to an exact spectral radius.

    >>> import torch
    >>> from rnnzoo.reservoir.init import reservoir_matrix, spectral_radius
    >>> W = reservoir_matrix(200, 0.9, density=0.05, generator=torch.Generator().manual_seed(0))
    >>> round(spectral_radius(W), 9), float((W != 0).double().mean()) < 0.06
    (0.9, True)
"""

from __future__ import annotations

import math
import warnings

import torch

from ..checks import check_size

DISTRIBUTIONS = ("uniform", "normal")


def check_radius(value, argument: str = "spectral_radius") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{argument} must be > 0 and finite, got {value!r}")
    return float(value)


def spectral_radius(W: torch.Tensor) -> float:
    """max |eigenvalue| of a square (dense or sparse) matrix, from all its eigenvalues, in float64."""
    if W.layout != torch.strided:
        W = W.to_dense()
    return float(torch.linalg.eigvals(W.to(torch.float64)).abs().max())


def _draw(shape, distribution: str, generator, dtype) -> torch.Tensor:
    if distribution == "uniform":
        return torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1
    if distribution == "normal":
        return torch.randn(shape, generator=generator, dtype=dtype)
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")


def reservoir_matrix(size: int, spectral_radius_: float = 0.9, *, density: float | None = None,
                     distribution: str = "uniform", generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A dense (size, size) matrix with about density * size^2 nonzeros, scaled to spectral_radius_.

    Nonzeros: each entry kept with probability density (default min(1, 10 / size): ~10 connections
    per unit), values uniform in [-1, 1] or standard normal, then W *= rho / rho(W) with rho(W) from
    all eigenvalues in float64 (exact to rounding, not a power-iteration estimate). Store it sparse
    with W.to_sparse_csr() if you like; ESN does that itself when sparse=True.
    """
    size = check_size(size, "size")
    rho = check_radius(spectral_radius_, "spectral_radius")
    density = min(1.0, 10.0 / size) if density is None else density
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1] (the fraction of nonzero weights), got {density!r}")
    for _ in range(100):
        W = _draw((size, size), distribution, generator, torch.float64)
        if density < 1:
            W = W * (torch.rand(size, size, generator=generator, dtype=torch.float64) < density)
        r = spectral_radius(W)
        if r > 1e-8:
            return (W * (rho / r)).to(dtype)
    raise ValueError(f"density={density} is too low for size={size}: every draw had spectral radius 0")


def dense_matrix(rows: int, cols: int, scaling: float, *, density: float = 1.0, distribution: str = "uniform",
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Input / feedback / bias weights: (rows, cols), values uniform in [-scaling, scaling] (or normal
    times scaling), each kept with probability density."""
    W = _draw((rows, cols), distribution, generator, torch.float64) * scaling
    if density < 1:
        W = W * (torch.rand(rows, cols, generator=generator, dtype=torch.float64) < density)
    return W.to(dtype)


def to_csr(W: torch.Tensor) -> torch.Tensor:
    """W as a sparse CSR tensor with int32 indices (faster products than int64; torch warns that CSR
    is beta, which is silenced here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        C = W.to_sparse_csr()
        return torch.sparse_csr_tensor(C.crow_indices().int(), C.col_indices().int(), C.values(), C.shape)
