"""rnnzoo: the whole family of recurrent neural networks behind one PyTorch API.

    >>> import torch, rnnzoo
    >>> rnn = rnnzoo.LSTM(10, 20, batch_first=True, peephole=True)
    >>> y, (h, c) = rnn(torch.randn(3, 5, 10))
"""

from . import cells
from .cells.elman import Elman
from .cells.gru import GRU
from .cells.jordan import Jordan
from .cells.lstm import LSTM
from .driver import NamedRecurrent, Recurrent
from .registry import available

__version__ = "0.1.0"
__all__ = ["Recurrent", "NamedRecurrent", "Elman", "Jordan", "LSTM", "GRU", "available", "cells"]
