"""Recurrent multilayer perceptron (Puskorius & Feldkamp 1994): a stack of recurrent layers per step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_size
from ..driver import NamedRecurrent
from ..engine import rmlp as engine
from ..registry import Entry, register
from .base import Cell, dropped, get_activation, init_blocks_


def _check_layer_sizes(layer_sizes, hidden_size: int) -> tuple[int, ...]:
    if layer_sizes is None:
        return (hidden_size,)
    if not isinstance(layer_sizes, (list, tuple)):
        raise TypeError(f"layer_sizes must be a list or tuple of ints, got "
                        f"{type(layer_sizes).__name__} {layer_sizes!r}")
    if len(layer_sizes) == 0:
        raise ValueError("layer_sizes must name at least one inner layer, got an empty sequence "
                         "(a one-layer RMLP is the 'elman' cell)")
    return tuple(check_size(s, f"layer_sizes[{i}]") for i, s in enumerate(layer_sizes))


class RMLPCell(Cell):
    r"""Recurrent multilayer perceptron cell, registry name `rmlp`. One step; `rnnzoo.Recurrent` runs
    sequences.

    Equations (K = len(layer_sizes) + 1 layers inside one time step, each with its own recurrence):
        h¹' = act(W_1 x  + U_1 h¹ + b_1)
        hˡ' = act(W_l hˡ⁻¹' + U_l hˡ + b_l)      l = 2..K (layer l reads layer l-1 of the *same* step)
        output hᴷ'
    A feed-forward MLP whose every layer is also fed back to itself with a one-step delay (Puskorius &
    Feldkamp 1994, "Neurocontrol of nonlinear dynamical systems with Kalman filter trained recurrent
    networks"). With one layer (K = 1) it would be the Elman cell.

    Shapes: N batch, H_in input_size, S_l = layer_sizes[l-1] for l < K, S_K = H hidden_size, S_0 = H_in
        x (N, H_in); state (h1, ..., hK), hl (N, S_l); output hK' (N, H)
        weight_ih[l-1] (S_l, S_{l-1}); weight_hh[l-1] (S_l, S_l); bias[l-1] (S_l,)   (ParameterLists)
    Init: weight_ih Glorot-uniform, weight_hh orthogonal, biases 0. Fused: none; sequence engine
    (rnnzoo.engine.rmlp): the layers run one after another over the whole sequence, each an Elman engine.
    Recurrent dropout masks every layer's recurrent input hˡ (recurrent_inputs = all state elements).

    Args:
        input_size: features of x.
        hidden_size: units of the last layer, which is the output.
        layer_sizes: units of the inner layers before the last, e.g. (16, 8); at least one; default
            None: one inner layer of hidden_size units.
        activation: one of tanh, relu, sigmoid, identity (default tanh), used by every layer.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("rmlp", 3, 5, layer_sizes=(8, 6), batch_first=True)
        >>> y, (h1, h2, h3) = rnn(torch.zeros(2, 7, 3))
        >>> y.shape, h1.shape, h3.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 8]), torch.Size([1, 2, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, layer_sizes=None,
                 activation: str = "tanh"):
        super().__init__(input_size, hidden_size)
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a str, got {type(activation).__name__} {activation!r}")
        self.activation = activation
        self.act = get_activation(activation, "activation")
        self.layer_sizes = _check_layer_sizes(layer_sizes, hidden_size)
        self.sizes = self.layer_sizes + (hidden_size,)
        K = len(self.sizes)
        self.state_names = tuple(f"h{l + 1}" for l in range(K))
        self.recurrent_inputs = tuple(range(K))
        fan_in = (input_size,) + self.sizes[:-1]
        self.weight_ih = nn.ParameterList(
            nn.Parameter(torch.empty(s, f)) for s, f in zip(self.sizes, fan_in))
        self.weight_hh = nn.ParameterList(nn.Parameter(torch.empty(s, s)) for s in self.sizes)
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in self.sizes)
        for w_ih, w_hh in zip(self.weight_ih, self.weight_hh):
            init_blocks_(w_ih, 1, recurrent=False)
            init_blocks_(w_hh, 1, recurrent=True)

    def state_shapes(self, x):
        return tuple((s,) for s in self.sizes)

    def project(self, x):
        return F.linear(x, self.weight_ih[0], self.bias[0])  # W_1 x + b_1 for all steps: (L, N, S_1)

    def step(self, xp, state, rec_mask=None):
        new = []
        for l in range(len(self.sizes)):
            pre = xp if l == 0 else F.linear(new[-1], self.weight_ih[l], self.bias[l])
            new.append(self.act(pre + dropped(state, rec_mask, l) @ self.weight_hh[l].T))
        return new[-1], tuple(new)

    def fused_reason(self):
        return "the RMLP cell has no fused torch kernel (several recurrent layers per step)"

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, layer_sizes={self.layer_sizes}, "
                f"activation={self.activation!r}")


class RecurrentMLP(NamedRecurrent):
    """Recurrent multilayer perceptron: `Recurrent("rmlp", ...)`; several recurrent layers per step.

    Options: layer_sizes, activation. Equations: `rnnzoo.cells.rmlp.RMLPCell`. The state is one tensor
    per inner layer plus the last: a tuple (h1, ..., hK), each (num_layers * D, N, S_l).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.RecurrentMLP(10, 20, layer_sizes=(32,), batch_first=True)
        >>> y, (h1, h2) = rnn(torch.randn(3, 5, 10))
        >>> y.shape, h1.shape
        (torch.Size([3, 5, 20]), torch.Size([1, 3, 32]))
    """

    _cell = "rmlp"


register(Entry(
    "rmlp", RMLPCell, "Recurrent multilayer perceptron: several recurrent layers per step",
    "h1' = act(W1 x + U1 h1 + b1); hl' = act(Wl h(l-1)' + Ul hl + bl)",
    "Puskorius & Feldkamp 1994, Neurocontrol ... Kalman filter trained recurrent networks",
    layer=RecurrentMLP,
    variants={"default": {}, "layer_sizes": {"layer_sizes": (5, 2)},
              "relu": {"activation": "relu"}},
    torch_counterpart="rnn",
    engine=engine.ENGINE))
