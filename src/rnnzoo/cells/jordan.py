"""Jordan's network (Jordan 1986): the context is the previous output, not the hidden state."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_size
from ..driver import NamedRecurrent
from ..engine import jordan as engine
from ..registry import Entry, register
from .base import Cell, dropped, get_activation, init_blocks_


class JordanCell(Cell):
    r"""Jordan cell, registry name `jordan`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations:
        h  = act_h(W_ih x + W_hy y + b_h)
        y' = act_y(W_yh h + b_y)
    The recurrent context is the previous *output* y (Jordan 1986), so the state is (y,) and the
    layer's output is y, of size `output_size`.

    Shapes: N batch, H_in input_size, H hidden_size, H_out output_size
        x (N, H_in); state (y,), y (N, H_out); output y' (N, H_out)
        weight_ih (H, H_in); weight_hy (H, H_out); bias (H,); weight_yh (H_out, H); bias_y (H_out,)
    Init: weight_ih, weight_yh Glorot-uniform; weight_hy orthogonal; biases 0. Fused: none.

    Args:
        input_size: features of x.
        hidden_size: features of the hidden layer h.
        output_size: features of y (default hidden_size).
        activation: act_h, one of tanh, relu, sigmoid, identity (default tanh).
        output_activation: act_y, likewise (default tanh).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Jordan(3, 8, output_size=2, batch_first=True)
        >>> y, state = rnn(torch.zeros(4, 6, 3))
        >>> y.shape, state.shape
        (torch.Size([4, 6, 2]), torch.Size([1, 4, 2]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, output_size: int | None = None,
                 activation: str = "tanh", output_activation: str = "tanh"):
        super().__init__(input_size, hidden_size)
        self.output_size = check_size(hidden_size if output_size is None else output_size, "output_size")
        self.activation, self.output_activation = activation, output_activation
        self.act_h = get_activation(activation, "activation")
        self.act_y = get_activation(output_activation, "output_activation")
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hy = nn.Parameter(torch.empty(hidden_size, self.output_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.weight_yh = nn.Parameter(torch.empty(self.output_size, hidden_size))
        self.bias_y = nn.Parameter(torch.zeros(self.output_size))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hy, 1, recurrent=True)
        init_blocks_(self.weight_yh, 1, recurrent=False)

    state_names = ("y",)

    def state_shapes(self, x):
        return ((self.output_size,),)

    def project(self, x):
        return torch.nn.functional.linear(x, self.weight_ih, self.bias)  # (L, N, H)

    def step(self, xp, state, rec_mask=None):
        h = self.act_h(xp + dropped(state, rec_mask) @ self.weight_hy.T)
        y = self.act_y(torch.nn.functional.linear(h, self.weight_yh, self.bias_y))
        return y, (y,)

    def fused_reason(self):
        return "the Jordan cell has no fused torch kernel (its context is the output y)"

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, output_size={self.output_size}, "
                f"activation={self.activation!r}, output_activation={self.output_activation!r}")


class Jordan(NamedRecurrent):
    """Jordan network: `Recurrent("jordan", ...)`; the context is the previous output.

    Options: output_size, activation, output_activation. Equations: `rnnzoo.cells.JordanCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Jordan(10, 20, output_size=4, batch_first=True)
        >>> y, state = rnn(torch.randn(3, 5, 10))
        >>> y.shape
        torch.Size([3, 5, 4])
    """

    _cell = "jordan"


register(Entry(
    "jordan", JordanCell, "Jordan network: the context is the previous output",
    "h = act(W x + U y + b); y' = act_y(V h + c)", "Jordan 1986, Serial order", layer=Jordan,
    variants={"default": {}, "output_size": {"output_size": 3}}, torch_counterpart="rnn",
    engine=engine.ENGINE))
