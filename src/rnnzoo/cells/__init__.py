"""Recurrent cells, each in its family's file with its named layer and its `register(...)` line.

Importing this package registers every architecture (as timm does); the order of the imports is the
order of `rnnzoo.available()`.
"""

from . import elman, jordan, lstm, gru  # noqa: F401  (the classic cells)
from . import fully_recurrent, second_order, rmlp, ctrnn, cascaded, conv_lstm, clockwork  # noqa: F401
from . import minimal  # noqa: F401  (the scan cells)
from .base import Cell
from .cascaded import CascadedCell
from .clockwork import ClockworkCell
from .conv_lstm import ConvLSTMCell
from .ctrnn import CTRNNCell
from .elman import ElmanCell
from .fully_recurrent import FullyRecurrentCell
from .gru import GRUCell
from .jordan import JordanCell
from .lstm import LSTMCell
from .minimal import MinGRUCell, MinLSTMCell
from .rmlp import RMLPCell
from .second_order import SecondOrderCell

__all__ = ["Cell", "ElmanCell", "JordanCell", "LSTMCell", "GRUCell", "FullyRecurrentCell",
           "SecondOrderCell", "RMLPCell", "CTRNNCell", "CascadedCell", "ConvLSTMCell",
           "ClockworkCell", "MinGRUCell", "MinLSTMCell"]
