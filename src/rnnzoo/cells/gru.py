"""Gated recurrent unit (Cho et al. 2014), in both of its published forms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool
from ..driver import NamedRecurrent
from ..engine import gru as engine
from ..interop import keras as _keras
from ..interop import torch as _torch
from ..registry import Entry, register
from .base import Cell, dropped, init_blocks_


class GRUCell(Cell):
    r"""GRU cell, registry name `gru`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations (gate order = row-block order of weight_ih, weight_hh, bias):
        r  = σ(W_ir x + W_hr h + b_r)
        z  = σ(W_iz x + W_hz h + b_z)
        n  = tanh(W_in x + r ⊙ (W_hn h + b_hn) + b_n)      reset_after=True (torch, Keras default)
        n  = tanh(W_in x + W_hn (r ⊙ h) + b_n)             reset_after=False (Cho et al. 2014)
        h' = (1 - z) ⊙ n + z ⊙ h
    Gate order: r, z, n (torch: the same; Keras: z, r, h, kernels transposed).

    Shapes: N batch, H_in input_size, H hidden_size
        x (N, H_in); state (h,), h (N, H); output h' (N, H)
        weight_ih (3H, H_in); weight_hh (3H, H); bias (3H,) = torch's b_ih + b_hh for r and z and b_in
        for n; bias_hn (H,) with reset_after (the bias the reset gate multiplies)
    Init: weight_ih Glorot-uniform, weight_hh orthogonal per gate, biases 0.
    Fused: nn.GRU's kernel when reset_after=True.

    Args:
        input_size, hidden_size: features of x and h.
        reset_after: apply the reset gate after the recurrent matmul (True) or before it (False).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.GRU(3, 5, reset_after=False)
        >>> y, h = rnn(torch.zeros(7, 2, 3))
        >>> y.shape, h.shape
        (torch.Size([7, 2, 5]), torch.Size([1, 2, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, reset_after: bool = True):
        super().__init__(input_size, hidden_size)
        self.reset_after = check_bool(reset_after, "reset_after")
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * H, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * H, H))
        self.bias = nn.Parameter(torch.zeros(3 * H))
        if self.reset_after:
            self.bias_hn = nn.Parameter(torch.zeros(H))
        init_blocks_(self.weight_ih, 3, recurrent=False)
        init_blocks_(self.weight_hh, 3, recurrent=True)

    def project(self, x):
        return F.linear(x, self.weight_ih, self.bias)  # (L, N, 3H)

    def step(self, xp, state, rec_mask=None):
        h = state[0]
        h_rec = dropped(state, rec_mask)
        H = self.hidden_size
        x_r, x_z, x_n = xp.chunk(3, dim=-1)
        if self.reset_after:
            h_r, h_z, h_n = (h_rec @ self.weight_hh.T).chunk(3, dim=-1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * (h_n + self.bias_hn))
        else:
            h_rz = h_rec @ self.weight_hh[: 2 * H].T
            r, z = torch.sigmoid(x_r + h_rz[:, :H]), torch.sigmoid(x_z + h_rz[:, H:])
            n = torch.tanh(x_n + (r * h_rec) @ self.weight_hh[2 * H:].T)
        h = n + z * (h - n)  # = (1 - z) n + z h
        return h, (h,)

    @property
    def fused_kind(self):
        return "gru" if self.reset_after else None

    def fused_reason(self):
        return "nn.GRU's kernel applies the reset gate after the matmul; reset_after=False has none"

    def fused_weights(self):
        b_hh = torch.cat([torch.zeros_like(self.bias[: 2 * self.hidden_size]), self.bias_hn])
        return [self.weight_ih, self.weight_hh, self.bias, b_hh]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, reset_after={self.reset_after}"


class GRU(NamedRecurrent):
    """GRU: `Recurrent("gru", ...)`, a drop-in replacement for torch.nn.GRU.

    Options: reset_after (True as torch and Keras; False as Cho et al. 2014). Equations:
    `rnnzoo.cells.GRUCell`. `GRU.from_torch(nn_gru)` / `layer.to_torch()` convert from and to nn.GRU;
    `GRU.from_keras(layer_or_arrays)` takes a Keras GRU or its arrays, either reset_after mode.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.GRU(10, 20, bidirectional=True)
        >>> y, h = rnn(torch.randn(5, 3, 10))
        >>> y.shape, h.shape
        (torch.Size([5, 3, 40]), torch.Size([2, 3, 20]))
    """

    _cell = "gru"
    from_torch = classmethod(_torch.from_torch)
    to_torch = _torch.to_torch
    from_keras = classmethod(_keras.from_keras)


register(Entry(
    "gru", GRUCell, "Gated recurrent unit (reset gate after or before the recurrent matmul)",
    "h' = (1 - z) n + z h", "Cho et al. 2014", layer=GRU,
    variants={"default": {}, "reset_before": {"reset_after": False}}, torch_counterpart="gru",
    engine=engine.ENGINE))
