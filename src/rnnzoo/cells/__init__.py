"""Recurrent cells, each in its family's file with its named layer and its `register(...)` line.

Importing this package registers every architecture (as timm does); the order here is the order of
`rnnzoo.available()`.
"""

from . import elman, jordan, lstm, gru  # noqa: F401  (registers them)
from .base import Cell
from .elman import ElmanCell
from .gru import GRUCell
from .jordan import JordanCell
from .lstm import LSTMCell

__all__ = ["Cell", "ElmanCell", "GRUCell", "JordanCell", "LSTMCell"]
