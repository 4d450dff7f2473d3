"""Convolutional LSTM (Shi et al. 2015): the LSTM with convolutions in place of its matrix products."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_finite
from ..driver import NamedRecurrent
from ..registry import Entry, register
from .base import Cell, dropped, init_blocks_


def _kernel_size(value) -> tuple[int, int]:
    """kernel_size as (kh, kw), both odd and >= 1, or a ValueError / TypeError naming kernel_size."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"kernel_size must be an int or a pair (kh, kw) for 2-D frames, got {value!r}")
    for k in pair:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"kernel_size must be an int or a pair of ints, got {value!r}")
        if k < 1 or k % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (for 'same' padding), got {value!r}")
    return pair


class ConvLSTMCell(Cell):
    r"""Convolutional LSTM cell, registry name `conv_lstm`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations (Shi et al. 2015; * is 2-D convolution with "same" zero padding, ⊙ elementwise):
        i  = σ(W_xi * x + W_hi * h + w_ci ⊙ c + b_i)          w_ci ⊙ c only with peephole
        f  = σ(W_xf * x + W_hf * h + w_cf ⊙ c + b_f)          w_cf ⊙ c only with peephole
        g  = tanh(W_xg * x + W_hg * h + b_g)
        c' = f ⊙ c + i ⊙ g
        o  = σ(W_xo * x + W_ho * h + w_co ⊙ c' + b_o)         w_co ⊙ c' only with peephole
        h' = o ⊙ tanh(c')
    Gate order: i, f, g, o (output-channel blocks of weight_ih, weight_hh, bias), as the LSTM cell.
    Convolution is torch's (cross-correlation, as in every deep-learning library).
    Peephole: Shi et al.'s w_c are full (C, H, W) tensors, which needs the frame size at construction;
    here they are per channel, (C, 1, 1), broadcast over the frame, so one layer runs any frame size.

    Shapes: N batch, C_in input_size, C hidden_size (channels), (Y, X) frame, k = (kh, kw)
        x (N, C_in, Y, X); state (h, c), each (N, C, Y, X); output h' (N, C, Y, X)
        weight_ih (4C, C_in, kh, kw); weight_hh (4C, C, kh, kw); bias (4C,);
        peephole_weight (3, C, 1, 1), rows w_ci, w_cf, w_co
    Init: weight_ih Glorot-uniform per gate, weight_hh orthogonal per gate (each (C, C*kh*kw) block),
    bias 0 except the forget gate's `forget_bias` (default 1.0), peephole 0. Fused: none.
    `project` runs the input convolution of all L*N frames as one conv2d; recurrent dropout masks h
    per element (one mask per sequence, as the driver draws it).

    Args:
        input_size: channels of x.
        hidden_size: channels of h and c.
        kernel_size: odd int or pair of odd ints (kh, kw); padding keeps the frame size.
        peephole: per-channel peephole connections from c.
        forget_bias: initial value of the forget gate bias.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("conv_lstm", 2, 8, kernel_size=3, batch_first=True)
        >>> y, (h, c) = rnn(torch.zeros(4, 5, 2, 16, 16))   # (N, L, C, Y, X)
        >>> y.shape, h.shape
        (torch.Size([4, 5, 8, 16, 16]), torch.Size([1, 4, 8, 16, 16]))
    """

    input_dims = 3
    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, *, kernel_size=3, peephole: bool = False,
                 forget_bias: float = 1.0):
        super().__init__(input_size, hidden_size)
        self.kernel_size = _kernel_size(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.peephole, self.forget_bias = check_bool(peephole, "peephole"), check_finite(forget_bias, "forget_bias")
        C = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * C, input_size, *self.kernel_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * C, C, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(4 * C))
        init_blocks_(self.weight_ih, 4, recurrent=False)
        init_blocks_(self.weight_hh, 4, recurrent=True)
        with torch.no_grad():
            self.bias[C:2 * C] = self.forget_bias
        if self.peephole:
            self.peephole_weight = nn.Parameter(torch.zeros(3, C, 1, 1))

    def feature_shape(self):
        return (self.input_size,)  # channels only; any frame size

    def state_shapes(self, x):
        frame = (self.hidden_size, *x.shape[3:])
        return (frame, frame)

    def project(self, x):
        L, N = x.shape[:2]
        xp = F.conv2d(x.reshape(L * N, *x.shape[2:]), self.weight_ih, self.bias, padding=self.padding)
        return xp.view(L, N, *xp.shape[1:])  # (L, N, 4C, Y, X)

    def step(self, xp, state, rec_mask=None):
        h, c = state
        gates = xp + F.conv2d(dropped(state, rec_mask), self.weight_hh, padding=self.padding)
        i, f, g, o = gates.chunk(4, dim=1)
        if self.peephole:
            p_i, p_f, p_o = self.peephole_weight
            i, f = i + p_i * c, f + p_f * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole:
            o = o + p_o * c
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def fused_reason(self):
        return "ConvLSTM has no fused torch kernel (torch's fused LSTM kernels are fully connected)"

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}"]
        return ", ".join(options + (["peephole"] if self.peephole else []))


class ConvLSTM2d(NamedRecurrent):
    """Convolutional LSTM over sequences of frames: `Recurrent("conv_lstm", ...)`.

    x is (L, N, C_in, Y, X), or (N, L, C_in, Y, X) with batch_first=True, or (L, C_in, Y, X)
    unbatched; output (L, N, D * C, Y, X) (bidirectional concat joins channels); state (h, c), each
    (num_layers * D, N, C, Y, X). Options: kernel_size, peephole, forget_bias. Equations:
    `rnnzoo.cells.ConvLSTMCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.ConvLSTM2d(1, 8, kernel_size=5, num_layers=2, batch_first=True)
        >>> y, (h, c) = rnn(torch.randn(3, 10, 1, 12, 12))
        >>> y.shape, c.shape
        (torch.Size([3, 10, 8, 12, 12]), torch.Size([2, 3, 8, 12, 12]))
    """

    _cell = "conv_lstm"


register(Entry(
    "conv_lstm", ConvLSTMCell, "Convolutional LSTM over frames (C, H, W) (kernel_size, peephole options)",
    "c' = f c + i g, gates from W_x * x + W_h * h + b; h' = o tanh(c')",
    "Shi et al. 2015, Convolutional LSTM network", layer=ConvLSTM2d,
    variants={"default": {}, "peephole": {"peephole": True}, "kernel_size_5": {"kernel_size": 5}},
    torch_counterpart="lstm", spatial=(6, 6)))
