"""rnnzoo: the whole family of recurrent neural networks behind one PyTorch API.

    >>> import torch, rnnzoo
    >>> rnn = rnnzoo.LSTM(10, 20, batch_first=True, peephole=True)
    >>> y, (h, c) = rnn(torch.randn(3, 5, 10))
"""
# ruff: noqa: E402  (the imports after the OpenMP setting, which must come first)

__version__ = "0.1.0"

# first, before anything imports torch: the rnnzoo command's OpenMP setting (rnnzoo.threads), which
# libgomp reads once, when torch loads it; in any other program this does nothing
from .threads import configure_openmp as _configure_openmp

_configure_openmp()

from . import cells
from .cells.cascaded import SequentialCascaded
from .cells.clockwork import Clockwork
from .cells.conv_lstm import ConvLSTM2d
from .cells.ctrnn import CTRNN
from .cells.elman import Elman
from .cells.fully_recurrent import FullyRecurrent
from .cells.gru import GRU
from .cells.jordan import Jordan
from .cells.lstm import LSTM
from .cells.minimal import MinGRU, MinLSTM
from .cells.rmlp import RecurrentMLP
from .cells.second_order import SecondOrder
from ._malloc import retain_freed_memory
from .driver import NamedRecurrent, Recurrent
from .registry import available

__all__ = [
    "Recurrent", "NamedRecurrent", "available", "cells",
    "Elman", "Jordan", "LSTM", "GRU", "FullyRecurrent", "SecondOrder", "RecurrentMLP", "CTRNN",
    "SequentialCascaded", "ConvLSTM2d", "Clockwork", "MinGRU", "MinLSTM", "retain_freed_memory",
]
