"""Elman's simple recurrent network (Elman 1990): the hidden state is the context."""

from __future__ import annotations

import torch
from torch import nn

from ..driver import NamedRecurrent
from ..engine import elman as engine
from ..interop import keras as _keras
from ..interop import torch as _torch
from ..registry import Entry, register
from .base import Cell, dropped, get_activation, init_blocks_


class ElmanCell(Cell):
    r"""Elman (simple RNN) cell, registry name `elman`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations:
        h' = act(W_ih x + W_hh h + b)
    with act = tanh (default) or relu.

    Shapes: N batch, H_in input_size, H hidden_size
        x (N, H_in); state (h,), h (N, H); output h' (N, H)
        weight_ih (H, H_in); weight_hh (H, H); bias (H,)
    Init: weight_ih Glorot-uniform, weight_hh orthogonal, bias 0.
    Differs from nn.RNNCell: one bias (torch's b_ih + b_hh). Fused: nn.RNN kernel (tanh or relu).

    Args:
        input_size: features of x.
        hidden_size: features of h.
        activation: "tanh" or "relu".

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("elman", 3, 5, batch_first=True)
        >>> y, h = rnn(torch.zeros(2, 7, 3))
        >>> y.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "tanh"):
        super().__init__(input_size, hidden_size)
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
        self.activation = activation
        self.act = get_activation(activation)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hh, 1, recurrent=True)

    def project(self, x):
        return torch.nn.functional.linear(x, self.weight_ih, self.bias)  # (L, N, H)

    def step(self, xp, state, rec_mask=None):
        h = self.act(xp + dropped(state, rec_mask) @ self.weight_hh.T)
        return h, (h,)

    @property
    def fused_kind(self):
        return "rnn_" + self.activation

    def fused_weights(self):
        return [self.weight_ih, self.weight_hh, self.bias, torch.zeros_like(self.bias)]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"


class Elman(NamedRecurrent):
    """Elman network: `Recurrent("elman", ...)`, a drop-in replacement for torch.nn.RNN.

    Options: activation ("tanh" or "relu", torch's `nonlinearity`). Equations: `rnnzoo.cells.ElmanCell`.
    `Elman.from_torch(nn_rnn)` / `layer.to_torch()` convert from and to nn.RNN (batch_first kept);
    `Elman.from_keras(layer_or_arrays)` takes a Keras SimpleRNN or its (kernel, recurrent_kernel, bias).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Elman(10, 20, num_layers=2)
        >>> y, h = rnn(torch.randn(5, 3, 10))
        >>> y.shape, h.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    _cell = "elman"
    from_torch = classmethod(_torch.from_torch)
    to_torch = _torch.to_torch
    from_keras = classmethod(_keras.from_keras)


register(Entry(
    "elman", ElmanCell, "Elman simple recurrent network (tanh or relu)",
    "h' = act(W x + U h + b)", "Elman 1990, Finding structure in time", layer=Elman,
    variants={"default": {}, "relu": {"activation": "relu"}}, torch_counterpart="rnn",
    engine=engine.ENGINE))
