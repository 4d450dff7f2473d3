"""The Mackey-Glass free-run protocol of Jaeger & Haas (Science 2004), in one place: `rnnzoo train
mackey-glass` and benchmarks/esn.py both use it.

  - teacher d(n) = tanh(x(n) - 1), x = MG17 (tau 17, beta 0.2, gamma 0.1, n 10) sampled every time
    unit from rnnzoo's RK4 integration with 10 subdivisions (`rnnzoo.data.mackey_glass`), the first
    1000 time units dropped; the seed draws the history, so each seed is a fresh trajectory;
  - ESN: 1000 tanh units (no leak), ~1% connectivity, spectral radius 0.8, input = bias only (bias
    weights U[-0.2, 0.2]), output feedback U[-0.56, 0.56], readout [1; x(n)];
  - 3000 teacher-forced steps, the first 1000 washed out, ridge readout in float64 (QR), ridge 1e-16;
  - free run (closed loop) for 84 steps from the state the teacher left; the error at the horizon,
    e = (y(3083) - d(3083)) / std(d), std over the whole series d(0..3083).
Jaeger & Haas report NRMSE84 = sqrt(mean over independent runs of e^2) = 10^-4.2 for 1000 units.

    >>> from rnnzoo.reservoir.jaeger import make_esn, teacher, free_run
    >>> d = teacher(700, seed=0)
    >>> esn = make_esn(seed=0, units=200).fit(targets=d[:600], washout=100, ridge=1e-12)
    >>> y, m = free_run(esn, d, 600, 100)
    >>> y.shape, m["nrmse"] < 0.1
    (torch.Size([100]), True)
"""

from __future__ import annotations

import math

import torch

from ..data.mackey_glass import mackey_glass
from .esn import ESN

TRAIN, WASHOUT, HORIZON = 3000, 1000, 84
# the ESN of the protocol; keys are the task's option names (--units, --spectral-radius, ...)
DEFAULTS = dict(units=1000, density=0.01, spectral_radius=0.8, leak=1.0, bias=0.2, feedback=0.56,
                noise=0.0, ridge=1e-16)
# the Mackey-Glass series of the protocol, every argument of `mackey_glass` spelt out, so that a
# saved run regenerates its teacher even if the function's defaults change
SERIES = dict(tau=17.0, beta=0.2, gamma=0.1, n=10.0, sample_step=1.0, subdivisions=10, x0=1.2,
              discard=1000.0, transform="tanh")


def teacher(length: int, seed: int, series: dict | None = None) -> torch.Tensor:
    """The teacher d(0..length-1) (float64) of the protocol for `seed`; `series`: MG arguments."""
    return mackey_glass(length, seed=seed, **(SERIES if series is None else series))


def make_esn(seed: int, *, units: int = DEFAULTS["units"], spectral_radius: float = DEFAULTS["spectral_radius"],
             density: float | None = DEFAULTS["density"], leak: float = DEFAULTS["leak"],
             bias: float = DEFAULTS["bias"], feedback: float = DEFAULTS["feedback"],
             noise: float = DEFAULTS["noise"], ridge: float | None = DEFAULTS["ridge"]) -> ESN:
    """The protocol's ESN: no input (bias only), output feedback, readout [1; x(n)]."""
    return ESN(0, units, 1, spectral_radius=spectral_radius, density=density, leak_rate=leak,
               bias_scaling=bias, feedback=True, feedback_scaling=feedback, noise=noise, ridge=ridge,
               seed=seed)


def free_run(esn: ESN, d: torch.Tensor, train: int, horizon: int) -> tuple[torch.Tensor, dict]:
    """Drive a fitted ESN with the teacher d[:train] (from the zero state, no noise), then run it
    `horizon` steps in closed loop: the outputs y (horizon,), predicting d[train:train + horizon], and
    {"nrmse": |e| at the last step, "free_run_nrmse": RMSE over the horizon, both / std(d[:train +
    horizon])}. It needs only the ESN's weights, so a saved model gives the same numbers bit for bit.
    """
    if d.shape[0] < train + horizon:
        raise ValueError(f"the teacher has {d.shape[0]} steps; need train + horizon = {train + horizon}")
    y = esn.generate(horizon, prime=d[:train]).reshape(horizon)
    truth = d[train:train + horizon].to(y.dtype)
    sd = float(d[:train + horizon].std())
    return y, {"nrmse": abs(float(y[-1] - truth[-1])) / sd,
               "free_run_nrmse": math.sqrt(float((y - truth).pow(2).mean())) / sd}


def train_nrmse(esn: ESN, d: torch.Tensor, train: int, washout: int) -> float:
    """One-step (teacher-forced) error of the readout over d[washout:train], / std of that part."""
    y = esn.predict(teacher=d[:train]).reshape(-1)[washout:]
    truth = d[washout:train].to(y.dtype)
    return math.sqrt(float((y - truth).pow(2).mean())) / float(truth.std())
