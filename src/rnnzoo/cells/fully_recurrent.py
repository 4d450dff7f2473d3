"""Williams & Zipser's fully recurrent network (1989): every unit feeds every unit."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_size
from ..driver import NamedRecurrent
from ..engine import fully_recurrent as engine
from ..registry import Entry, register
from .base import Cell, dropped, get_activation, init_blocks_


class FullyRecurrentCell(Cell):
    r"""Fully recurrent cell, registry name `fully_recurrent`. One step; `Recurrent` runs sequences.

    n = hidden_size units, each connected to every unit (itself included). The external input drives
    only the first `input_units` units; the output is read from the last `output_units` units
    (Williams & Zipser 1989, "A learning algorithm for continually running fully recurrent networks"):
        s_k(t) = Σ_l w_kl y_l(t-1) + Σ_i w_ki x_i(t) + b_k        Σ_i w_ki x_i only for k < input_units
        y_k(t) = f(s_k(t))
        output = (y_{n-output_units}(t), ..., y_{n-1}(t))
    with f = tanh (default) or the paper's logistic sigmoid. The state is all n activations y(t).

    Shapes: N batch, H_in input_size, n hidden_size, m input_units, p output_units
        x (N, H_in); state (y,), y (N, n); output (N, p) = y[:, n - p:]
        weight_ih (m, H_in): w_ki for the input units; weight_hh (n, n): w_kl; bias (n,)
    Init: weight_hh orthogonal (Saxe et al. 2014; the paper drew small uniform weights), weight_ih
    Glorot-uniform, bias 0. With input_units = output_units = n and tanh this is an Elman cell.
    Fused: none (the partial input and output connectivity has no torch kernel). Engine:
    rnnzoo.engine.fully_recurrent, the Elman engine on the padded projection.

    Args:
        input_size: features of x.
        hidden_size: n, the number of units.
        input_units: how many units (the first ones) receive x; default n (all).
        output_units: how many units (the last ones) are the output; default n (all).
        activation: f, "tanh" or "sigmoid".

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("fully_recurrent", 3, 8, input_units=2, output_units=1)
        >>> y, state = rnn(torch.zeros(7, 2, 3))
        >>> y.shape, state.shape
        (torch.Size([7, 2, 1]), torch.Size([1, 2, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, input_units: int | None = None,
                 output_units: int | None = None, activation: str = "tanh"):
        super().__init__(input_size, hidden_size)
        n = hidden_size
        self.input_units = _units(n if input_units is None else input_units, "input_units", n)
        self.output_units = _units(n if output_units is None else output_units, "output_units", n)
        if activation not in ("tanh", "sigmoid"):
            raise ValueError(f"activation must be 'tanh' or 'sigmoid', got {activation!r}")
        self.activation, self.act = activation, get_activation(activation)
        self.output_size = self.output_units
        self.weight_ih = nn.Parameter(torch.empty(self.input_units, input_size))
        self.weight_hh = nn.Parameter(torch.empty(n, n))
        self.bias = nn.Parameter(torch.zeros(n))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hh, 1, recurrent=True)

    def project(self, x):
        # x W_ih^T for all steps in one matmul, zero for the units without input, plus the bias
        xp = F.linear(x, self.weight_ih)  # (L, N, m)
        return F.pad(xp, (0, self.hidden_size - self.input_units)) + self.bias  # (L, N, n)

    def step(self, xp, state, rec_mask=None):
        y = self.act(xp + dropped(state, rec_mask) @ self.weight_hh.T)  # (N, n)
        return y[:, self.hidden_size - self.output_units:], (y,)

    def fused_reason(self):
        return "the fully recurrent cell has no fused torch kernel"

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, input_units={self.input_units}, "
                f"output_units={self.output_units}, activation={self.activation!r}")


def _units(value, argument: str, n: int) -> int:
    value = check_size(value, argument)
    if value > n:
        raise ValueError(f"{argument} must be <= hidden_size={n} (the number of units), got {value}")
    return value


class FullyRecurrent(NamedRecurrent):
    """Fully recurrent network (Williams & Zipser 1989): `Recurrent("fully_recurrent", ...)`.

    Options: input_units, output_units, activation ("tanh" or "sigmoid").
    Equations: `rnnzoo.cells.fully_recurrent.FullyRecurrentCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.FullyRecurrent(10, 20, output_units=4, activation="sigmoid", batch_first=True)
        >>> y, state = rnn(torch.randn(3, 5, 10))
        >>> y.shape, state.shape
        (torch.Size([3, 5, 4]), torch.Size([1, 3, 20]))
    """

    _cell = "fully_recurrent"


register(Entry(
    "fully_recurrent", FullyRecurrentCell,
    "Williams-Zipser fully recurrent network (input_units, output_units, activation)",
    "y' = f(W y + V x + b); output = last output_units of y'",
    "Williams & Zipser 1989, A learning algorithm for continually running fully recurrent networks",
    layer=FullyRecurrent,
    variants={"default": {}, "sigmoid": {"activation": "sigmoid"},
              "units": {"input_units": 2, "output_units": 3}},
    torch_counterpart="rnn",
    engine=engine.ENGINE))
