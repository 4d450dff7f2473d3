"""The named layers: each is `Recurrent` with its cell, plus conversions from torch and Keras."""

from __future__ import annotations

from .driver import Recurrent
from .interop import keras as _keras
from .interop import torch as _torch


class _Named(Recurrent):
    """Recurrent with the cell fixed by the subclass (`_cell`), taking Recurrent's other arguments."""

    _cell = ""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, merge="concat",
                 dropout=0.0, recurrent_dropout=0.0, batch_first=False, fused="auto", **cell_options):
        super().__init__(self._cell, input_size, hidden_size, num_layers, bidirectional, merge,
                         dropout, recurrent_dropout, batch_first, fused, **cell_options)


class Elman(_Named):
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


class Jordan(_Named):
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


class LSTM(_Named):
    """LSTM: `Recurrent("lstm", ...)`, a drop-in replacement for torch.nn.LSTM.

    Options: peephole, coupled, layer_norm, proj_size, forget_bias. Equations: `rnnzoo.cells.LSTMCell`.
    `LSTM.from_torch(nn_lstm)` / `layer.to_torch()` convert from and to nn.LSTM (batch_first kept);
    `LSTM.from_keras(layer_or_arrays)` takes a Keras LSTM or its (kernel, recurrent_kernel, bias).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.LSTM(10, 20, num_layers=2)
        >>> y, (h, c) = rnn(torch.randn(5, 3, 10))
        >>> y.shape, c.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    _cell = "lstm"
    from_torch = classmethod(_torch.from_torch)
    to_torch = _torch.to_torch
    from_keras = classmethod(_keras.from_keras)


class GRU(_Named):
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
