"""Mackey-Glass delay differential equation, integrated by rnnzoo (no external solver)."""

from __future__ import annotations

import math
import random

import numpy as np
import torch

from ..checks import check_size

TRANSFORMS = (None, "tanh")


def _number(value, argument: str, *, positive: bool = True):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{argument} must be {'> 0 and ' if positive else ''}finite, got {value!r}")
    return float(value)


def mackey_glass(n_samples: int, *, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, n: float = 10.0,
                 sample_step: float = 1.0, subdivisions: int = 10, x0: float = 1.2, discard: float = 1000.0,
                 seed: int | None = None, transform: str | None = None, as_numpy: bool = False,
                 dtype: torch.dtype = torch.float64):
    r"""A Mackey-Glass series x(t0), x(t0 + sample_step), ..., n_samples values.

        dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)        (MG17: tau = 17, chaotic)

    Integrator: classic 4th-order Runge-Kutta with step h = sample_step / subdivisions on a grid that
    also holds the history, so the delayed values x(t - tau) and x(t + h - tau) are grid points
    (tau / h must be a whole number); the one at t + h/2 - tau is the 4-point cubic (Lagrange)
    interpolation (-x_{k-1} + 9 x_k + 9 x_{k+1} - x_{k+2}) / 16, 4th-order accurate like RK4.
    Every `subdivisions`-th grid value is kept (the series is sampled, not averaged).
    History (t <= 0): x(t) = x0; with a seed, x0 plus independent uniform noise in [-0.1, 0.1] at each
    history grid point (Python's random.Random(seed)), so different seeds give different trajectories
    and the same seed the same series, bit for bit. The first `discard` time units are dropped so the
    series starts on the attractor.
    transform "tanh": returns tanh(x - 1), the squashed MG17 teacher of Jaeger & Haas (Science 2004).

    Returns a float64 (unless dtype says otherwise) torch tensor (n_samples,), or a numpy array with
    as_numpy=True.

    Example:
        >>> from rnnzoo.data import mackey_glass
        >>> x = mackey_glass(500, seed=1)
        >>> x.shape, 0.2 < float(x.min()) < float(x.max()) < 1.5
        (torch.Size([500]), True)
        >>> bool((x == mackey_glass(500, seed=1)).all()), bool((x == mackey_glass(500, seed=2)).all())
        (True, False)
    """
    n_samples = check_size(n_samples, "n_samples")
    tau = _number(tau, "tau")
    beta, gamma, n = _number(beta, "beta"), _number(gamma, "gamma"), _number(n, "n")
    sample_step = _number(sample_step, "sample_step")
    subdivisions = check_size(subdivisions, "subdivisions")
    x0 = _number(x0, "x0")
    discard = _number(discard, "discard", positive=False)
    if discard < 0:
        raise ValueError(f"discard must be >= 0 (time units dropped at the start), got {discard}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    h = sample_step / subdivisions
    d = round(tau / h)
    if d < 2 or abs(d * h - tau) > 1e-9 * tau:
        raise ValueError(f"tau / (sample_step / subdivisions) must be a whole number >= 2 (the delay in "
                         f"integration steps), got {tau} / {h} = {tau / h}")
    skip = round(discard / sample_step)
    steps = (skip + n_samples - 1) * subdivisions
    rng = random.Random(seed) if seed is not None else None
    # buf[j] holds x at t = (j - d - 1) h: d + 2 history points, then the integrated values
    buf = [x0 + (rng.uniform(-0.1, 0.1) if rng else 0.0) for _ in range(d + 2)]
    append = buf.append

    def f(x, xd):
        return beta * xd / (1.0 + xd ** n) - gamma * x

    x = buf[-1]
    for i in range(d + 1, d + 1 + steps):  # buf[i] is x(t), buf[i - d] is x(t - tau)
        a, b, c, e = buf[i - d - 1], buf[i - d], buf[i - d + 1], buf[i - d + 2]
        mid = (-a + 9.0 * b + 9.0 * c - e) / 16.0
        k1 = f(x, b)
        k2 = f(x + 0.5 * h * k1, mid)
        k3 = f(x + 0.5 * h * k2, mid)
        k4 = f(x + h * k3, c)
        x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        append(x)
    series = np.asarray(buf[d + 1 + skip * subdivisions::subdivisions], dtype=np.float64)[:n_samples]
    if transform == "tanh":
        series = np.tanh(series - 1.0)
    if as_numpy:
        return series
    return torch.from_numpy(series).to(dtype)
