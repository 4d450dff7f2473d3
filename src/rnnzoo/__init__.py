"""rnnzoo: the whole family of recurrent neural networks behind one PyTorch API.

    >>> import torch, rnnzoo
    >>> rnn = rnnzoo.LSTM(10, 20, batch_first=True, peephole=True)
    >>> y, (h, c) = rnn(torch.randn(3, 5, 10))
"""

from . import cells
from .driver import Recurrent
from .layers import GRU, LSTM, Elman, Jordan
from .registry import available

__version__ = "0.1.0"
__all__ = ["Recurrent", "Elman", "Jordan", "LSTM", "GRU", "available", "cells"]
