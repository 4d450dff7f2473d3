"""Continuous-time recurrent network (Funahashi & Nakamura 1993; Beer 1995), integrated step by step."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, tracing
from ..driver import NamedRecurrent
from ..engine import ctrnn as engine
from ..registry import Entry, register
from .base import Cell, get_activation, init_blocks_

METHODS = ("euler", "rk4")


def _positive(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a float > 0, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a finite float > 0, got {value!r}")
    return float(value)


class CTRNNCell(Cell):
    r"""Continuous-time RNN cell, registry name `ctrnn`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations: the ODE
        τ ⊙ dh/dt = -h + W act(h) + V x + b
    integrated over one step of length dt with x held constant over the step:
        euler:  h' = h + dt · f(h),   f(h) = (-h + W act(h) + V x + b) / τ
        rk4:    k1 = f(h), k2 = f(h + dt/2 k1), k3 = f(h + dt/2 k2), k4 = f(h + dt k3)
                h' = h + dt/6 (k1 + 2 k2 + 2 k3 + k4)
        output  y' = act(h')
    τ = exp(log_tau) > 0, one time constant per unit. The output is the firing rate act(h'), not the
    potential h': it is what each unit sends to the others through W, and bounded (tanh, sigmoid) so
    stacked layers and readouts see inputs on the usual scale whatever τ and dt are. The state h (the
    potential) comes back as the final state. Euler is stable for the leak only when dt < 2 τ.

    Step size: the `dt` option for every step, or a per-call tensor `layer(x, dt=...)` laid out like
    x's first two dims, (N, L) with batch_first or (L, N), for irregularly sampled series (one step
    per observation, dt the time since the previous one). Every dt must be finite and >= 0: dt = 0 is a
    gap of no time, where the state stays exactly as it was (two observations at the same time). The dt of
    padded steps (beyond `lengths`) is ignored: any finite number. With bidirectional, the backward cell
    reads the same dt[t] at observation t as the forward one (the driver reverses x and dt together).

    Shapes: N batch, H_in input_size, H hidden_size
        x (N, H_in); state (h,), h (N, H); output act(h') (N, H)
        weight_ih V (H, H_in); weight_hh W (H, H); bias b (H,); log_tau (H,) (a buffer without learn_tau)
        project(x (L, N, H_in), dt (L, N) or None) -> (V x + b (L, N, H), dt (L, N, 1))
    Init: weight_ih Glorot-uniform, weight_hh orthogonal, bias 0, log_tau = log(tau). Fused: none;
    sequence engine (rnnzoo.engine.ctrnn): Euler and RK4 steps, with or without per-step dt.
    Recurrent dropout masks act(h) where it enters W (the leak -h is not masked).

    Args:
        input_size, hidden_size: features of x and of h.
        activation: one of tanh, relu, sigmoid, identity (default tanh).
        tau: initial time constant of every unit, > 0 (default 1.0).
        learn_tau: train τ (default True).
        dt: step size when the call gives none, > 0 (default 1.0).
        method: "euler" (default) or "rk4".

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("ctrnn", 3, 5, tau=2.0, method="rk4", batch_first=True)
        >>> dt = torch.rand(2, 7) + 0.1                  # irregular sampling: (N, L)
        >>> y, h = rnn(torch.zeros(2, 7, 3), dt=dt)
        >>> y.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 5]))
    """

    step_inputs = ("dt",)

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "tanh",
                 tau: float = 1.0, learn_tau: bool = True, dt: float = 1.0, method: str = "euler"):
        super().__init__(input_size, hidden_size)
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a str, got {type(activation).__name__} {activation!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        self.activation, self.method, self.learn_tau = activation, method, check_bool(learn_tau, "learn_tau")
        self.act = get_activation(activation, "activation")
        self.tau, self.dt = _positive(tau, "tau"), _positive(dt, "dt")
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hh, 1, recurrent=True)
        log_tau = torch.full((hidden_size,), math.log(self.tau))
        if self.learn_tau:
            self.log_tau = nn.Parameter(log_tau)
        else:
            self.register_buffer("log_tau", log_tau)

    def project(self, x, dt=None):
        return F.linear(x, self.weight_ih, self.bias), self.step_sizes(x, dt)  # V x + b: (L, N, H)

    def step_sizes(self, x, dt=None):
        """The step sizes (L, N, 1) in x's dtype: the `dt` option everywhere, or the checked tensor."""
        if dt is None:
            return x.new_full((*x.shape[:2], 1), self.dt)
        if not isinstance(dt, torch.Tensor):
            raise TypeError(f"dt must be a tensor (L, N), got {type(dt).__name__}")
        if dt.dim() == 3 and dt.shape[2] == 1:
            dt = dt.squeeze(2)
        if tuple(dt.shape) != tuple(x.shape[:2]):
            raise ValueError(f"dt must have shape (L, N) = {tuple(x.shape[:2])} (time-major here; "
                             f"(N, L) with batch_first), got {tuple(dt.shape)}")
        # dt = 0 is a gap of no time: the state stays exactly as it was (c = dt / τ = 0 in the step).
        # Recurrent has set padded steps to 0 before they come here, whatever the caller gave there.
        if not tracing() and not bool(((dt >= 0) & torch.isfinite(dt)).all()):  # NaN fails both
            bad = dt[~((dt >= 0) & torch.isfinite(dt))][0].item()
            raise ValueError(f"dt must be finite and >= 0 at every real step (0: no time passes), got {bad}")
        return dt.to(x.dtype).unsqueeze(2)

    def step(self, xp, state, rec_mask=None):
        u, dt = xp  # (N, H), (N, 1)
        h = state[0]
        mask = None if rec_mask is None else rec_mask[0]
        inv_tau = torch.exp(-self.log_tau)

        def f(v):
            r = self.act(v)
            return (r if mask is None else r * mask) @ self.weight_hh.T + u - v

        if self.method == "euler":
            h = h + dt * inv_tau * f(h)
        else:
            a = dt * inv_tau
            k1 = f(h)
            k2 = f(h + a / 2 * k1)
            k3 = f(h + a / 2 * k2)
            k4 = f(h + a * k3)
            h = h + a / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return self.act(h), (h,)

    def fused_reason(self):
        return "the CTRNN cell has no fused torch kernel (it integrates an ODE per step)"

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
                f"tau={self.tau}, learn_tau={self.learn_tau}, dt={self.dt}, method={self.method!r}")


class CTRNN(NamedRecurrent):
    """Continuous-time RNN: `Recurrent("ctrnn", ...)`; takes a per-step `dt` for irregular series.

    Options: activation, tau, learn_tau, dt, method. Equations: `rnnzoo.cells.ctrnn.CTRNNCell`.
    Call: `y, h = layer(x, dt=dt)` with dt (N, L) under batch_first, (L, N) otherwise, or no dt for
    the constant step `dt` option.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.CTRNN(10, 20, tau=5.0, batch_first=True)
        >>> y, h = rnn(torch.randn(3, 5, 10), dt=torch.full((3, 5), 0.5))
        >>> y.shape, h.shape
        (torch.Size([3, 5, 20]), torch.Size([1, 3, 20]))
    """

    _cell = "ctrnn"


register(Entry(
    "ctrnn", CTRNNCell, "Continuous-time RNN (Euler or RK4 steps, learnable time constants, per-step dt)",
    "tau dh/dt = -h + W act(h) + V x + b; y = act(h)",
    "Funahashi & Nakamura 1993; Beer 1995, On the dynamics of small continuous-time RNNs",
    layer=CTRNN,
    variants={"default": {}, "rk4": {"method": "rk4", "dt": 0.5},
              "fixed_tau": {"tau": 2.0, "learn_tau": False}, "sigmoid": {"activation": "sigmoid"}},
    torch_counterpart="rnn",
    engine=engine.ENGINE))
